namespace FineTuneLab.Trainer.Backends;

/// <summary>How a model's config.json rescales rotary frequencies (Hugging Face rope_scaling / rope_type).</summary>
public abstract record RopeScaling
{
    /// <summary>rope_type "linear": positions divided by <paramref name="Factor"/> (inv_freq / factor).</summary>
    public sealed record Linear(double Factor) : RopeScaling;

    /// <summary>rope_type "llama3" (Llama 3.1+): low frequencies divided by the factor, a smooth blend in between.</summary>
    public sealed record Llama3(double Factor, double LowFreqFactor, double HighFreqFactor, int OriginalMaxPositionEmbeddings) : RopeScaling;

    /// <summary>
    /// rope_type "longrope" (Phi-3 128k, Phi-3.5): inv_freq[i] = 1 / (ExtFactors[i] · theta^(2i/D)), one factor per
    /// frequency (the short or the long list, whichever the sequence length selects).
    /// </summary>
    public sealed record LongRope(IReadOnlyList<double> ExtFactors) : RopeScaling;
}
