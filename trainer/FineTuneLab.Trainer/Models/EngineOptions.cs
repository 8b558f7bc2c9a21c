using FineTuneLab.Trainer.Tensors;

namespace FineTuneLab.Trainer.Models;

/// <summary>
/// How a model is instantiated for training: what is trainable (LoRA adapters, or every weight when
/// <see cref="FullFineTune"/>), the dtype frozen matrices are kept in, and the largest micro-batch the activation
/// arena is sized for (nothing is allocated after construction).
/// </summary>
public sealed record EngineOptions
{
    public LoraOptions? Lora { get; init; }
    public bool FullFineTune { get; init; }
    /// <summary>Nothing trainable (inference: generation, evaluation of a base model); no LoRA and no full fine-tuning.</summary>
    public bool InferenceOnly { get; init; }
    /// <summary>Frozen weight matrices (projections, embeddings, head) in F32, BF16 or F16; null keeps each as stored (F64 → F32).</summary>
    public DType? WeightDType { get; init; }
    /// <summary>QLoRA: the linear layers of the transformer blocks are held in NF4 (double-quantized, blocks of 64); embeddings, norms and the head keep <see cref="WeightDType"/>.</summary>
    public bool QuantizeBase { get; init; }
    public required int MaxBatch { get; init; }
    public required int MaxSeq { get; init; }
    /// <summary>
    /// Positions the RoPE tables cover, when more than <see cref="MaxSeq"/>: incremental decoding with a KV cache runs
    /// a few tokens at a time (small activations) at positions up to the whole sequence length.
    /// </summary>
    public int? RopePositions { get; init; }
    /// <summary>
    /// Tokens per chunk of the fused LM-head cross-entropy (bounds the logits scratch to chunk × vocab); null chooses
    /// <see cref="LossChunkRows"/>.
    /// </summary>
    public int? LossChunk { get; init; }

    /// <summary>Logits scratch an automatic chunk may take: 32 Mi floats (128 MB).</summary>
    public const long AutoLogitsBudget = 32L << 20;

    /// <summary>
    /// Tokens per LM-head chunk: the given <see cref="LossChunk"/>, else as many as the logits budget holds (at least
    /// 256). Every chunk repacks the head weight for its two GEMMs, so fewer, larger chunks run faster.
    /// </summary>
    public int LossChunkRows(int vocab) => LossChunk ?? (int)Math.Clamp(AutoLogitsBudget / Math.Max(vocab, 1), 256, int.MaxValue);
    /// <summary>Seeds LoRA's A initialisation and dropout masks.</summary>
    public ulong Seed { get; init; } = 0;

    public void Validate()
    {
        if (InferenceOnly && FullFineTune) throw new ArgumentException("inference-only models cannot be fully fine-tuned");
        if (Lora is null && !FullFineTune && !InferenceOnly) throw new ArgumentException("nothing to train: give LoRA options or FullFineTune");
        if (Lora is not null && FullFineTune) throw new ArgumentException("choose LoRA or full fine-tuning, not both");
        Lora?.Validate();
        if (QuantizeBase && Lora is null) throw new ArgumentException("NF4 base weights (QLoRA) train LoRA adapters: give LoRA options");
        if (MaxBatch <= 0 || MaxSeq <= 0) throw new ArgumentException($"batch ({MaxBatch}) and sequence length ({MaxSeq}) must be positive");
        if (RopePositions is { } rp && rp < MaxSeq) throw new ArgumentException($"RoPE positions ({rp}) must cover the sequence length ({MaxSeq})");
        if (LossChunk is <= 0) throw new ArgumentException($"loss chunk must be positive, got {LossChunk}");
        if (WeightDType is { } d && d is not (DType.F32 or DType.BF16 or DType.F16))
            throw new ArgumentException($"weights can be kept in F32, BF16 or F16, not {d}");
    }
}
