using FineTuneLab.Trainer.Backends;
using FineTuneLab.Trainer.Models;
using FineTuneLab.Trainer.Models.Modules;
using FineTuneLab.Trainer.Tensors;

namespace FineTuneLab.Trainer.Inference;

/// <summary>
/// Runs a <see cref="TransformerModel"/> forward incrementally against a <see cref="KvCache"/>: a prompt is processed in
/// chunks of up to <see cref="ChunkTokens"/> tokens, then each new token alone, through the model's own modules and
/// backend kernels (the attention kernel's Tq &lt; Tk path sees the cached keys). Every buffer is allocated here, once;
/// a decode step allocates nothing. LoRA adapters, when the model has them, are applied unmerged.
/// </summary>
public sealed class CachedDecoder : IDecoder
{
    private readonly TransformerModel _model;
    private readonly ModelLayout _l;
    private readonly IBackend _be;
    private readonly Arena _arena;
    private readonly NativeBuffer _staging;
    private readonly Tensor _ids, _positions, _x0, _x1, _h, _q, _att, _mean, _rstd, _gate, _up, _act, _loraHidden, _lse, _logits;
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
        int n = ChunkTokens, C = c.HiddenSize, I = c.IntermediateSize;
        int maxRank = model.Adapters.Count == 0 ? 0 : model.Adapters.Max(a => a.Rank);
        var counter = new SizeCounter();
        Carve(counter);
        _arena = new Arena("decode buffers", _be.AllocateMemory(Math.Max(counter.Bytes, NativeBuffer.Alignment)), ownsBlock: true);
        var alloc = new ArenaAllocator(_arena);
        (_ids, _positions, _x0, _x1, _h, _q, _att, _mean, _rstd, _gate, _up, _act, _loraHidden, _lse, _logits) = Carve(alloc);
        _staging = new NativeBuffer(Math.Max((long)n * sizeof(int), NativeBuffer.Alignment));
        _positionValues = new int[n];
        _hostLogits = new float[c.VocabSize];

        (Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor) Carve(ITensorAllocator a) => (
            a.Allocate(DType.I32, new TensorShape(n)), a.Allocate(DType.I32, new TensorShape(n)),
            a.Allocate(DType.F32, new TensorShape(n, C)), a.Allocate(DType.F32, new TensorShape(n, C)), a.Allocate(DType.F32, new TensorShape(n, C)),
            a.Allocate(DType.F32, new TensorShape(n, c.QDim)), a.Allocate(DType.F32, new TensorShape(n, c.QDim)),
            a.Allocate(DType.F32, new TensorShape(n)), a.Allocate(DType.F32, new TensorShape(n)),
            a.Allocate(DType.F32, new TensorShape(n, I)), a.Allocate(DType.F32, new TensorShape(n, I)), a.Allocate(DType.F32, new TensorShape(n, I)),
            a.Allocate(DType.F32, new TensorShape(Math.Max(maxRank, 1) * n)), a.Allocate(DType.F32, new TensorShape(c.NumHeads * n)),
            a.Allocate(DType.F32, new TensorShape(1, c.VocabSize)));
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
        var c = _model.Config;
        int t = ids.Length, past = Cache.Length, total = past + t, d = c.HeadDim;
        var staging = _staging.AsTensor(DType.I32, new TensorShape(t));
        var ids1 = _ids.Slice(0, t);
        var pos = _positions.Slice(0, t);
        HostTransfer.WriteInts(_be, ids1, ids, staging);
        for (int i = 0; i < t; i++) _positionValues[i] = past + i;
        HostTransfer.WriteInts(_be, pos, _positionValues.AsSpan(0, t), staging);

        var x = _x0.Slice(0, t);
        var y = _x1.Slice(0, t);
        _be.EmbeddingForward(ids1, _l.Embed.Value, x);
        if (c.LearnedPositions) _be.EmbeddingForward(pos, _l.PositionEmbed.Value, x, accumulate: true);
        var h = _h.Slice(0, t);
        var q = _q.Slice(0, t);
        var att = _att.Slice(0, t);
        var mean = _mean.Slice(0, t);
        var rstd = _rstd.Slice(0, t);
        var hidden = _loraHidden;
        for (int li = 0; li < _l.Layers.Length; li++)
        {
            var layer = _l.Layers[li];
            var kAll = Cache.Keys[li];
            var vAll = Cache.Values[li];
            var kNew = kAll.Slice(past, t);
            var vNew = vAll.Slice(past, t);
            layer.Norm1.Forward(_be, x, h, mean, rstd);
            if (layer.Qkv is { } qkv) Project(qkv, h, [q, kNew, vNew], false, hidden);
            else
            {
                Project(layer.Q!, h, [q], false, hidden);
                Project(layer.K!, h, [kNew], false, hidden);
                Project(layer.V!, h, [vNew], false, hidden);
            }
            if (!c.LearnedPositions)
            {
                var q3 = q.Reshape(t, c.NumHeads, d);
                var k3 = kNew.Reshape(t, c.NumKvHeads, d);
                _be.RopeForward(q3, pos, _l.RopeCos, _l.RopeSin, q3);
                _be.RopeForward(k3, pos, _l.RopeCos, _l.RopeSin, k3);
            }
            int window = li >= c.SlidingWindowFromLayer ? c.SlidingWindow ?? 0 : 0;
            _be.AttentionForward(q.Reshape(1, t, c.NumHeads, d), kAll.Slice(0, total).Reshape(1, total, c.NumKvHeads, d),
                vAll.Slice(0, total).Reshape(1, total, c.NumKvHeads, d), default, 1f / MathF.Sqrt(d), window,
                att.Reshape(1, t, c.NumHeads, d), _lse.View(0, new TensorShape(1, c.NumHeads, t)));
            _be.Copy(x, y);
            Project(layer.O, att, [y], true, hidden);

            layer.Norm2.Forward(_be, y, h, mean, rstd);
            var gate = _gate.Slice(0, t);
            var act = _act.Slice(0, t);
            Project(layer.Gate, h, [gate], false, hidden);
            if (layer.Up is { } upProj)
            {
                var up = _up.Slice(0, t);
                Project(upProj, h, [up], false, hidden);
                _be.SwiGluForward(gate, up, act);
            }
            else _be.GeluTanhForward(gate, act);
            _be.Copy(y, x);
            Project(layer.Down, act, [x], true, hidden);
        }
        // only the last position's logits are needed
        var last = x.Slice(t - 1, 1);
        var hLast = h.Slice(0, 1);
        _l.FinalNorm.Forward(_be, last, hLast, mean.Slice(0, 1), rstd.Slice(0, 1));
        _be.Gemm(hLast, false, _l.Head.Value, true, _logits);
        Cache.Length = total;
    }

    private void Project(Linear l, Tensor x, ReadOnlySpan<Tensor> outputs, bool accumulate, Tensor hiddenFlat)
    {
        var hidden = l.Lora is null ? default : hiddenFlat.View(0, l.LoraHiddenShape(x.Dim(0)));
        l.Forward(_be, x, outputs, accumulate, hidden, default, 0);
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
