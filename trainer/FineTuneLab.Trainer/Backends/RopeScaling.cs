namespace FineTuneLab.Trainer.Backends;

/// <summary>How a model's config.json rescales rotary frequencies (Hugging Face rope_scaling / rope_type).</summary>
public abstract record RopeScaling
{
    /// <summary>rope_type "linear": positions divided by <paramref name="Factor"/> (inv_freq / factor).</summary>
    public sealed record Linear(double Factor) : RopeScaling;

    /// <summary>rope_type "llama3" (Llama 3.1+): low frequencies divided by the factor, a smooth blend in between.</summary>
    public sealed record Llama3(double Factor, double LowFreqFactor, double HighFreqFactor, int OriginalMaxPositionEmbeddings) : RopeScaling;
}
