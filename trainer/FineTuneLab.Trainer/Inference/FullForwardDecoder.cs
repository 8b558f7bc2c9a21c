using FineTuneLab.Trainer.Backends;
using FineTuneLab.Trainer.Models;
using FineTuneLab.Trainer.Tensors;

namespace FineTuneLab.Trainer.Inference;

/// <summary>
/// Next-token logits without a KV cache: every call runs the model's training forward over the whole sequence again
/// (O(n²) work per token). The reference the cached path is checked against, and <c>--no-kv-cache</c>.
/// </summary>
public sealed class FullForwardDecoder : IDecoder
{
    private readonly TransformerModel _model;
    private readonly int[] _ids;
    private readonly int[] _noLabels;
    private readonly Arena _logitsArena;
    private readonly Tensor _logits;
    private readonly float[] _hostLogits;

    public FullForwardDecoder(TransformerModel model)
    {
        if (model.Adapters.Any(a => a.Dropout > 0))
            throw new ArgumentException("inference needs LoRA dropout 0 (load the adapter for inference)");
        _model = model;
        Capacity = model.Options.MaxSeq;
        _ids = new int[Capacity];
        _noLabels = new int[Capacity];
        Array.Fill(_noLabels, CrossEntropyResult.IgnoreIndex);
        int v = model.Config.VocabSize;
        _logitsArena = new Arena("logits", model.Backend.AllocateMemory(Arena.Aligned((long)v * sizeof(float))), ownsBlock: true);
        _logits = _logitsArena.Allocate(DType.F32, 1, v);
        _hostLogits = new float[v];
    }

    public int Length { get; private set; }
    public int VocabSize => _model.Config.VocabSize;
    public int Capacity { get; }

    public ReadOnlySpan<float> Append(ReadOnlySpan<int> ids)
    {
        if (ids.IsEmpty) throw new ArgumentException("nothing to append");
        if (Length + ids.Length > Capacity)
            throw new InvalidOperationException($"sequence of {Length + ids.Length} tokens exceeds the model instance's {Capacity}");
        ids.CopyTo(_ids.AsSpan(Length));
        Length += ids.Length;
        _model.SetBatch(_ids.AsSpan(0, Length), _noLabels.AsSpan(0, Length), 1, Length);
        _model.Run(backward: false, gradScale: 1f);
        var be = _model.Backend;
        be.Gemm(_model.Layout.FinalHidden.Slice(Length - 1, 1), false, _model.Layout.Head.Value, true, _logits);
        if (be.Location == MemoryLocation.Host) _logits.AsFloat().CopyTo(_hostLogits);
        else HostTransfer.Read(be, _logits).CopyTo(_hostLogits);
        return _hostLogits;
    }

    public void Reset() => Length = 0;

    public void Dispose() => _logitsArena.Dispose();
}
