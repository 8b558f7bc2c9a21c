using FineTuneLab.Trainer.Tensors;

namespace FineTuneLab.Trainer.Models.Modules;

/// <summary>
/// What one decoder layer's forward writes, sized for the largest micro-batch (rows = tokens): in training each layer
/// has its own (the backward reads them); incremental decoding shares one set, sized for a chunk, across all layers,
/// with the keys and values in the KV cache instead (<see cref="ForDecoding"/>).
/// </summary>
public sealed class LayerActivations
{
    private readonly Tensor _sharedLoraHidden;

    public LayerActivations(ITensorAllocator a, ModelConfig c, int maxTokens, int maxBatch, int maxSeq, IReadOnlyList<Linear> adapted)
        : this(a, c, maxTokens, maxBatch, maxSeq, keysAndValues: true)
    {
        var hidden = new Dictionary<Linear, Tensor>(ReferenceEqualityComparer.Instance);
        foreach (var l in adapted)
            hidden[l] = a.Allocate(DType.F32, new TensorShape(l.Lora!.Rank * maxTokens));
        LoraHidden = hidden;
    }

    /// <summary>
    /// One set for every layer of a forward-only chunk of up to <paramref name="maxTokens"/> tokens of one sequence:
    /// no K and V (the layer writes them into the KV cache) and one LoRA hidden buffer for every adapter (nothing of a
    /// layer is kept for a backward).
    /// </summary>
    public static LayerActivations ForDecoding(ITensorAllocator a, ModelConfig c, int maxTokens, int maxLoraRank) =>
        new(a, c, maxTokens, 1, maxTokens, keysAndValues: false,
            maxLoraRank > 0 ? a.Allocate(DType.F32, new TensorShape(maxLoraRank * maxTokens)) : default);

    private LayerActivations(ITensorAllocator a, ModelConfig c, int maxTokens, int maxBatch, int maxSeq, bool keysAndValues, Tensor sharedLoraHidden = default)
    {
        H1 = a.Allocate(DType.F32, new TensorShape(maxTokens, c.HiddenSize));
        Mean1 = a.Allocate(DType.F32, new TensorShape(maxTokens));
        Rstd1 = a.Allocate(DType.F32, new TensorShape(maxTokens));
        Q = a.Allocate(DType.F32, new TensorShape(maxTokens, c.QDim));
        if (c.QkNorm)
        {
            QRaw = a.Allocate(DType.F32, new TensorShape(maxTokens, c.QDim));
            KRaw = a.Allocate(DType.F32, new TensorShape(maxTokens, c.KvDim));
            RstdQ = a.Allocate(DType.F32, new TensorShape(maxTokens * c.NumHeads));
            RstdK = a.Allocate(DType.F32, new TensorShape(maxTokens * c.NumKvHeads));
        }
        K = keysAndValues ? a.Allocate(DType.F32, new TensorShape(maxTokens, c.KvDim)) : default;
        V = keysAndValues ? a.Allocate(DType.F32, new TensorShape(maxTokens, c.KvDim)) : default;
        Att = a.Allocate(DType.F32, new TensorShape(maxTokens, c.QDim));
        Lse = a.Allocate(DType.F32, new TensorShape(maxBatch * c.NumHeads * maxSeq));
        XMid = a.Allocate(DType.F32, new TensorShape(maxTokens, c.HiddenSize));
        if (c.SandwichNorms)
        {
            AttnOut = a.Allocate(DType.F32, new TensorShape(maxTokens, c.HiddenSize));
            RstdPostAttn = a.Allocate(DType.F32, new TensorShape(maxTokens));
            MlpOut = a.Allocate(DType.F32, new TensorShape(maxTokens, c.HiddenSize));
            RstdPostFf = a.Allocate(DType.F32, new TensorShape(maxTokens));
        }
        H2 = a.Allocate(DType.F32, new TensorShape(maxTokens, c.HiddenSize));
        Mean2 = a.Allocate(DType.F32, new TensorShape(maxTokens));
        Rstd2 = a.Allocate(DType.F32, new TensorShape(maxTokens));
        Gate = a.Allocate(DType.F32, new TensorShape(maxTokens, c.IntermediateSize));
        Up = c.Mlp != MlpKind.GeluTanh ? a.Allocate(DType.F32, new TensorShape(maxTokens, c.IntermediateSize)) : default;
        Act = a.Allocate(DType.F32, new TensorShape(maxTokens, c.IntermediateSize));
        _sharedLoraHidden = sharedLoraHidden;
        LoraHidden = new Dictionary<Linear, Tensor>();
    }

    /// <summary>The flat buffer the forward keeps dropout(x)·Aᵀ of <paramref name="l"/> in (the backward reads it back).</summary>
    public Tensor LoraHiddenOf(Linear l) => _sharedLoraHidden.IsEmpty ? LoraHidden[l] : _sharedLoraHidden;

    public Tensor H1 { get; }
    public Tensor Mean1 { get; }
    public Tensor Rstd1 { get; }
    public Tensor Q { get; }
    /// <summary>q and k as projected, before the per-head norms (Qwen3, Gemma 3), and the norms' rstd per head row.</summary>
    public Tensor QRaw { get; }
    public Tensor KRaw { get; }
    public Tensor RstdQ { get; }
    public Tensor RstdK { get; }
    public Tensor K { get; }
    public Tensor V { get; }
    public Tensor Att { get; }
    public Tensor Lse { get; }
    public Tensor XMid { get; }
    /// <summary>Gemma: the attention and MLP outputs before their post-norms, and those norms' rstd.</summary>
    public Tensor AttnOut { get; }
    public Tensor RstdPostAttn { get; }
    public Tensor MlpOut { get; }
    public Tensor RstdPostFf { get; }
    public Tensor H2 { get; }
    public Tensor Mean2 { get; }
    public Tensor Rstd2 { get; }
    /// <summary>The gated MLP's gate projection, or GPT-2's c_fc output (the GELU input).</summary>
    public Tensor Gate { get; }
    public Tensor Up { get; }
    public Tensor Act { get; }
    public IReadOnlyDictionary<Linear, Tensor> LoraHidden { get; }
}

/// <summary>Backward-only buffers, shared by all layers (one layer's backward runs at a time).</summary>
public sealed class BackwardScratch
{
    public BackwardScratch(ITensorAllocator a, ModelConfig c, int maxTokens, int maxRank, bool dropout)
    {
        DResidual = a.Allocate(DType.F32, new TensorShape(maxTokens, c.HiddenSize));
        DH = a.Allocate(DType.F32, new TensorShape(maxTokens, c.HiddenSize));
        DQ = a.Allocate(DType.F32, new TensorShape(maxTokens, c.QDim));
        DK = a.Allocate(DType.F32, new TensorShape(maxTokens, c.KvDim));
        DV = a.Allocate(DType.F32, new TensorShape(maxTokens, c.KvDim));
        if (c.QkNorm)
        {
            DQRaw = a.Allocate(DType.F32, new TensorShape(maxTokens, c.QDim));
            DKRaw = a.Allocate(DType.F32, new TensorShape(maxTokens, c.KvDim));
        }
        DAtt = a.Allocate(DType.F32, new TensorShape(maxTokens, c.QDim));
        DAct = a.Allocate(DType.F32, new TensorShape(maxTokens, c.IntermediateSize));
        DGate = a.Allocate(DType.F32, new TensorShape(maxTokens, c.IntermediateSize));
        DUp = c.Mlp != MlpKind.GeluTanh ? a.Allocate(DType.F32, new TensorShape(maxTokens, c.IntermediateSize)) : default;
        DLoraHidden = maxRank > 0 ? a.Allocate(DType.F32, new TensorShape(maxRank * maxTokens)) : default;
        var widest = Math.Max(Math.Max(c.HiddenSize, c.QDim), c.IntermediateSize);
        DropScratch = dropout ? a.Allocate(DType.F32, new TensorShape(maxTokens * widest)) : default;
    }

    public Tensor DResidual { get; }
    public Tensor DH { get; }
    public Tensor DQ { get; }
    public Tensor DK { get; }
    public Tensor DV { get; }
    /// <summary>Gradients of q and k before the per-head norms.</summary>
    public Tensor DQRaw { get; }
    public Tensor DKRaw { get; }
    public Tensor DAtt { get; }
    public Tensor DAct { get; }
    public Tensor DGate { get; }
    public Tensor DUp { get; }
    public Tensor DLoraHidden { get; }
    /// <summary>dropout(x) of a LoRA input (flat; viewed as [N, in] per layer).</summary>
    public Tensor DropScratch { get; }
}
