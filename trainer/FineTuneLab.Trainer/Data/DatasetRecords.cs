using FineTuneLab.Trainer.Tokenizers.Jinja;

namespace FineTuneLab.Trainer.Data;

/// <summary>One parsed training example with the line it came from.</summary>
public abstract record DatasetRecord(long LineNumber)
{
    /// <summary>The example's text in a canonical form, for duplicate detection.</summary>
    public abstract string CanonicalText { get; }
}

public sealed record ChatRecord(long LineNumber, IReadOnlyList<ChatMessage> Messages) : DatasetRecord(LineNumber)
{
    public override string CanonicalText => string.Join("\u0001", Messages.Select(m => m.Role + "\u0002" + m.Content));
}

public sealed record PromptCompletionRecord(long LineNumber, string Prompt, string Completion) : DatasetRecord(LineNumber)
{
    public override string CanonicalText => Prompt + "\u0001" + Completion;
}

public sealed record PreferenceRecord(long LineNumber, string Prompt, string Chosen, string Rejected) : DatasetRecord(LineNumber)
{
    public override string CanonicalText => Prompt + "\u0001" + Chosen + "\u0001" + Rejected;
}
