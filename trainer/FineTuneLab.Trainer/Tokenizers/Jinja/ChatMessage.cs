namespace FineTuneLab.Trainer.Tokenizers.Jinja;

/// <summary>One turn of a conversation as chat templates see it (<c>{"role": ..., "content": ...}</c>).</summary>
public sealed record ChatMessage(string Role, string Content)
{
    internal OrderedDictionary<string, object?> ToTemplateValue() => new(StringComparer.Ordinal) { ["role"] = Role, ["content"] = Content };
}
