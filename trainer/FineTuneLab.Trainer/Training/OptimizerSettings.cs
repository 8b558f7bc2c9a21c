namespace FineTuneLab.Trainer.Training;

/// <summary>AdamW (torch.optim.AdamW semantics) plus global-norm clipping; <see cref="MaxGradNorm"/> ≤ 0 turns clipping off.</summary>
public sealed record OptimizerSettings(
    float LearningRate, float Beta1 = 0.9f, float Beta2 = 0.999f, float Eps = 1e-8f, float WeightDecay = 0.01f, float MaxGradNorm = 1f);

/// <summary>One micro-batch of token ids and HF-convention labels (unshifted, -100 ignored), both [Batch, Seq] row-major.</summary>
/// Packed sequences add position ids (restarting per example) and segment ids (attention stays within one); empty otherwise.
public readonly record struct MicroBatch(ReadOnlyMemory<int> InputIds, ReadOnlyMemory<int> Labels, int Batch, int Seq,
    ReadOnlyMemory<int> PositionIds = default, ReadOnlyMemory<int> SegmentIds = default);

/// <summary>What one optimizer step did: the loss (mean per micro-batch, averaged over micro-batches) and the pre-clip gradient norm.</summary>
public readonly record struct StepResult(double Loss, float GradNorm, int Tokens, long Step);
