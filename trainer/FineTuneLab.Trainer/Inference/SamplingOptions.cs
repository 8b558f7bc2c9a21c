namespace FineTuneLab.Trainer.Inference;

/// <summary>
/// How the next token is chosen, with Hugging Face generate's meaning: temperature 0 is greedy (argmax after the
/// repetition penalty); otherwise repetition penalty, temperature, top-k (0 = off), top-p (1 = off), then a draw from
/// the softmax with a generator seeded by <see cref="Seed"/>.
/// </summary>
public sealed record SamplingOptions
{
    public float Temperature { get; init; } = 1f;
    public int TopK { get; init; }
    public float TopP { get; init; } = 1f;
    public float RepetitionPenalty { get; init; } = 1f;
    public ulong Seed { get; init; }

    public bool Greedy => Temperature == 0f;

    public static SamplingOptions GreedyDecoding { get; } = new() { Temperature = 0f };

    public void Validate()
    {
        if (!(Temperature >= 0) || float.IsInfinity(Temperature)) throw new ArgumentException($"temperature must be >= 0, got {Temperature}");
        if (TopK < 0) throw new ArgumentException($"top-k must be >= 0, got {TopK}");
        if (!(TopP > 0 && TopP <= 1)) throw new ArgumentException($"top-p must be in (0, 1], got {TopP}");
        if (!(RepetitionPenalty > 0) || float.IsInfinity(RepetitionPenalty)) throw new ArgumentException($"repetition penalty must be > 0, got {RepetitionPenalty}");
    }
}
