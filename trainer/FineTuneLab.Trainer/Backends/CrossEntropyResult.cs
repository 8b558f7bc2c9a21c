namespace FineTuneLab.Trainer.Backends;

/// <summary>What the fused LM-head cross-entropy returns: the loss summed over non-ignored tokens and how many there were.</summary>
public readonly record struct CrossEntropyResult(double LossSum, int ValidTokens)
{
    public const int IgnoreIndex = -100;

    /// <summary>PyTorch's reduction='mean' (NaN when every token is ignored, as in PyTorch).</summary>
    public double Mean => LossSum / ValidTokens;
}
