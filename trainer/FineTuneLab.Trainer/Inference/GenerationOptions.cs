namespace FineTuneLab.Trainer.Inference;

/// <summary>One generation request: how many tokens at most, how to sample, and when to stop early.</summary>
public sealed record GenerationOptions
{
    public int MaxNewTokens { get; init; } = 128;
    public SamplingOptions Sampling { get; init; } = new();
    /// <summary>Generation ends when the text contains one of these; the text is cut before it.</summary>
    public IReadOnlyList<string> StopStrings { get; init; } = [];
    /// <summary>Token ids that end generation (EOS); the id itself is not part of the text.</summary>
    public IReadOnlyCollection<int> StopTokenIds { get; init; } = [];
}

/// <summary>What a generation produced: the new ids, their text, why it ended, and the time split.</summary>
public sealed record GenerationResult(int[] PromptIds, int[] NewIds, string Text, string FinishReason, double PrefillSeconds, double DecodeSeconds)
{
    /// <summary>Decode throughput: new tokens after the first, per second of decoding.</summary>
    public double DecodeTokensPerSecond => NewIds.Length > 1 && DecodeSeconds > 0 ? (NewIds.Length - 1) / DecodeSeconds : 0;
}
