using FineTuneLab.Trainer.Backends;
using FineTuneLab.Trainer.Models;
using FineTuneLab.Trainer.Models.Modules;
using FineTuneLab.Trainer.Tensors;

namespace FineTuneLab.Trainer.Inference;

/// <summary>
/// Runs a <see cref="TransformerModel"/> forward incrementally against a <see cref="KvCache"/>: a prompt is processed in
/// chunks of up to <see cref="ChunkTokens"/> tokens, then each new token alone, through the model's own
/// <see cref="DecoderLayer.Forward"/> (the training forward) given each layer's <see cref="KvCacheView"/>. What this
/// class owns is the cache and the buffers of one chunk (allocated here, once, shared by the layers); a decode step
/// allocates nothing. LoRA adapters, when the model has them, are applied unmerged.
/// </summary>
public sealed class CachedDecoder : IDecoder
{
    private readonly TransformerModel _model;
    private readonly ModelLayout _l;
    private readonly IBackend _be;
    private readonly Arena _arena;
    private readonly NativeBuffer _staging;
    private readonly StepContext _ctx;
    private readonly LayerActivations _acts;
    private readonly Tensor _ids, _positions, _x, _logits;
    private readonly int[] _positionValues;
    private readonly float[] _hostLogits;

    public CachedDecoder(TransformerModel model, int maxLength, int chunkTokens = 64)
    {
        if (model.Adapters.Any(a => a.Dropout > 0))
            throw new ArgumentException("inference needs LoRA dropout 0 (load the adapter for inference)");
        var c = model.Config;
        if (!c.LearnedPositions && maxLength > model.Layout.RopeCos.Dim(0))
            throw new ArgumentException($"maximum length {maxLength} exceeds the model instance's RoPE table ({model.Layout.RopeCos.Dim(0)} positions)");
        if (c.LearnedPositions && maxLength > c.MaxPositionEmbeddings)
            throw new ArgumentException($"maximum length {maxLength} exceeds the model's {c.MaxPositionEmbeddings} learned positions");
        _model = model;
        _l = model.Layout;
        _be = model.Backend;
        ChunkTokens = Math.Max(1, Math.Min(chunkTokens, maxLength));
        Cache = new KvCache(_be, c, maxLength);
        int n = ChunkTokens;
        int maxRank = model.Adapters.Count == 0 ? 0 : model.Adapters.Max(a => a.Rank);
        var counter = new SizeCounter();
        Carve(counter);
        _arena = new Arena("decode buffers", _be.AllocateMemory(Math.Max(counter.Bytes, NativeBuffer.Alignment)), ownsBlock: true);
        (_ids, _positions, _x, _logits, _acts) = Carve(new ArenaAllocator(_arena));
        _staging = new NativeBuffer(Math.Max((long)n * sizeof(int), NativeBuffer.Alignment));
        _positionValues = new int[n];
        _hostLogits = new float[c.VocabSize];
        // one sequence, forward only: no dropout, no packing, positions from the cache length
        _ctx = new StepContext(_be, scratch: null)
        {
            RopeCos = _l.RopeCos, RopeSin = _l.RopeSin, RopeCosLocal = _l.RopeCosLocal, RopeSinLocal = _l.RopeSinLocal, DropoutActive = false, Batch = 1,
        };

        (Tensor, Tensor, Tensor, Tensor, LayerActivations) Carve(ITensorAllocator a) => (
            a.Allocate(DType.I32, new TensorShape(n)), a.Allocate(DType.I32, new TensorShape(n)),
            a.Allocate(DType.F32, new TensorShape(n, c.HiddenSize)), a.Allocate(DType.F32, new TensorShape(1, c.VocabSize)),
            LayerActivations.ForDecoding(a, c, n, maxRank));
    }

    public KvCache Cache { get; }
    public int ChunkTokens { get; }
    public int Length => Cache.Length;
    public int VocabSize => _model.Config.VocabSize;
    public int Capacity => Cache.Capacity;
    public long BufferBytes => _arena.Capacity + Cache.Bytes;

    /// <summary>Forgets the sequence (the cache is reused).</summary>
    public void Reset() => Cache.Reset();

    /// <summary>
    /// Appends <paramref name="ids"/> to the sequence and returns the next-token logits after the last of them (a view
    /// of an internal buffer, valid until the next call).
    /// </summary>
    public ReadOnlySpan<float> Append(ReadOnlySpan<int> ids)
    {
        if (ids.IsEmpty) throw new ArgumentException("nothing to append");
        if (Cache.Length + ids.Length > Cache.Capacity)
            throw new InvalidOperationException($"sequence of {Cache.Length + ids.Length} tokens exceeds the KV cache's {Cache.Capacity}");
        int vocab = _model.Config.VocabSize;
        foreach (var id in ids)
            if ((uint)id >= (uint)vocab) throw new ArgumentException($"token id {id} is outside the vocabulary (size {vocab})");
        for (int start = 0; start < ids.Length; start += ChunkTokens)
            RunChunk(ids.Slice(start, Math.Min(ChunkTokens, ids.Length - start)));
        HostLogits();
        return _hostLogits;
    }

    private void RunChunk(ReadOnlySpan<int> ids)
    {
        int t = ids.Length, past = Cache.Length;
        var staging = _staging.AsTensor(DType.I32, new TensorShape(t));
        var ids1 = _ids.Slice(0, t);
        var pos = _positions.Slice(0, t);
        HostTransfer.WriteInts(_be, ids1, ids, staging);
        for (int i = 0; i < t; i++) _positionValues[i] = past + i;
        HostTransfer.WriteInts(_be, pos, _positionValues.AsSpan(0, t), staging);

        _ctx.Seq = t;
        _ctx.Positions = pos;
        var x = _x.Slice(0, t);
        _model.Embed(ids1, pos, x);
        for (int li = 0; li < _l.Layers.Length; li++)
            _l.Layers[li].Forward(_ctx, x, x, new KvCacheView(Cache.Keys[li], Cache.Values[li], past), _acts);
        // only the last position's logits are needed
        var hLast = _acts.H1.Slice(0, 1);
        _l.FinalNorm.Forward(_be, x.Slice(t - 1, 1), hLast, _acts.Mean1.Slice(0, 1), _acts.Rstd1.Slice(0, 1));
        _be.Gemm(hLast, false, _l.Head.Value, true, _logits);
        Cache.Length = past + t;
    }

    private void HostLogits()
    {
        if (_be.Location == MemoryLocation.Host) _logits.AsFloat().CopyTo(_hostLogits);
        else HostTransfer.Read(_be, _logits).CopyTo(_hostLogits);
    }

    public void Dispose()
    {
        Cache.Dispose();
        _arena.Dispose();
        _staging.Dispose();
    }
}
