using FineTuneLab.Trainer.Tokenizers;
using FineTuneLab.Trainer.Tokenizers.Jinja;

namespace FineTuneLab.Trainer.Data;

/// <summary>What happens to an example longer than the maximum sequence length.</summary>
public enum TruncationPolicy
{
    /// <summary>Keep the first tokens (the end of the answer is lost).</summary>
    Right,
    /// <summary>Keep the last tokens (the start of the context is lost).</summary>
    Left,
    /// <summary>Leave the example out.</summary>
    Drop,
}

public sealed record EncodingOptions
{
    public int MaxSeqLen { get; init; } = 2048;
    public AssistantLoss AssistantLoss { get; init; } = AssistantLoss.AllTurns;
    public TruncationPolicy Truncation { get; init; } = TruncationPolicy.Right;
    /// <summary>Render prompt/completion pairs as a user turn and an assistant turn through the chat template
    /// (instead of plain <c>prompt + completion + eos</c>).</summary>
    public bool PromptCompletionAsChat { get; init; }
}

/// <summary>
/// Token ids and labels of one example. Labels are aligned with the ids (Hugging Face convention: the loss shifts
/// them by one); <see cref="IgnoreIndex"/> marks tokens without loss.
/// </summary>
public sealed record EncodedExample(long LineNumber, int[] InputIds, int[] Labels)
{
    public const int IgnoreIndex = -100;
    public int Length => InputIds.Length;
    public int TrainableTokens => Labels.Count(l => l != IgnoreIndex);
}

/// <summary>
/// Turns records into token ids with loss only on what the model should learn to write: assistant turns of a chat
/// (all, or only the last), or the completion (+ EOS) of a prompt/completion pair.
/// </summary>
public sealed class ExampleEncoder
{
    private readonly ITokenizer _tokenizer;
    private readonly ChatTemplate _template;
    private readonly int? _eosId;

    public EncodingOptions Options { get; }

    public ExampleEncoder(ITokenizer tokenizer, ChatTemplate template, EncodingOptions options)
    {
        _tokenizer = tokenizer;
        _template = template;
        Options = options;
        _eosId = template.SpecialTokens.TryGetValue("eos_token", out var eos) ? tokenizer.TokenToId(eos) : null;
    }

    /// <summary>The whole example before truncation.</summary>
    public EncodedExample EncodeFull(DatasetRecord record) => record switch
    {
        ChatRecord c => EncodeChat(c.LineNumber, c.Messages, Options.AssistantLoss),
        PromptCompletionRecord p when Options.PromptCompletionAsChat =>
            EncodeChat(p.LineNumber, [new ChatMessage(ChatRoles.User, p.Prompt), new ChatMessage(ChatRoles.Assistant, p.Completion)], AssistantLoss.LastTurn),
        PromptCompletionRecord p => EncodePlain(p.LineNumber, p.Prompt, p.Completion),
        _ => throw new ArgumentException($"line {record.LineNumber}: a {record.GetType().Name} is encoded with {nameof(EncodePreference)}"),
    };

    /// <summary>The example fitted to <see cref="EncodingOptions.MaxSeqLen"/>, or null when the policy drops it or no trainable token is left.</summary>
    public EncodedExample? Encode(DatasetRecord record) => Fit(EncodeFull(record));

    /// <summary>A preference pair as two sequences sharing the prompt: (prompt + chosen, prompt + rejected), loss on the answers.</summary>
    public (EncodedExample Chosen, EncodedExample Rejected)? EncodePreference(PreferenceRecord record)
    {
        EncodedExample Side(string answer) => Options.PromptCompletionAsChat
            ? EncodeChat(record.LineNumber, [new ChatMessage(ChatRoles.User, record.Prompt), new ChatMessage(ChatRoles.Assistant, answer)], AssistantLoss.LastTurn)
            : EncodePlain(record.LineNumber, record.Prompt, answer);
        var chosen = Fit(Side(record.Chosen));
        var rejected = Fit(Side(record.Rejected));
        return chosen is null || rejected is null ? null : (chosen, rejected);
    }

    public EncodedExample? Fit(EncodedExample e)
    {
        var max = Options.MaxSeqLen;
        if (e.Length > max)
        {
            if (Options.Truncation == TruncationPolicy.Drop) return null;
            var from = Options.Truncation == TruncationPolicy.Left ? e.Length - max : 0;
            e = e with { InputIds = e.InputIds[from..(from + max)], Labels = e.Labels[from..(from + max)] };
        }
        return e.Labels.Any(l => l != EncodedExample.IgnoreIndex) ? e : null;
    }

    private EncodedExample EncodeChat(long line, IReadOnlyList<ChatMessage> messages, AssistantLoss loss)
    {
        var rendered = AssistantSpanFinder.Render(_template, messages, loss);
        // transformers tokenizes a rendered chat without adding special tokens: the template wrote them.
        var ids = _tokenizer.Encode(rendered.Text, addSpecialTokens: false);
        var labels = Filled(ids.Length);
        foreach (var span in rendered.AssistantSpans)
        {
            var (offset, length) = span.GetOffsetAndLength(rendered.Text.Length);
            var from = TokensBefore(rendered.Text, offset, ids, addSpecialTokens: false);
            var to = TokensBefore(rendered.Text, offset + length, ids, addSpecialTokens: false);
            for (var t = from; t < to; t++) labels[t] = ids[t];
        }
        return new EncodedExample(line, ids, labels);
    }

    private EncodedExample EncodePlain(long line, string prompt, string completion)
    {
        var text = prompt + completion;
        var ids = _tokenizer.Encode(text, addSpecialTokens: true);
        var from = TokensBefore(text, prompt.Length, ids, addSpecialTokens: true);
        if (_eosId is { } eos && (ids.Length == 0 || ids[^1] != eos)) ids = [.. ids, eos];
        var labels = Filled(ids.Length);
        for (var t = from; t < ids.Length; t++) labels[t] = ids[t];
        return new EncodedExample(line, ids, labels);
    }

    private static int[] Filled(int n)
    {
        var labels = new int[n];
        Array.Fill(labels, EncodedExample.IgnoreIndex);
        return labels;
    }

    /// <summary>
    /// How many tokens of the whole text's encoding belong before character <paramref name="charOffset"/>: the
    /// common prefix of the encoding of the text up to there and the whole encoding. Encoding the whole text once
    /// (rather than piece by piece) keeps the ids identical to what the model sees at inference, also for
    /// tokenizers that prepend a space marker to every piece; a token that straddles the boundary counts after it.
    /// </summary>
    private int TokensBefore(string text, int charOffset, int[] fullIds, bool addSpecialTokens)
    {
        if (charOffset >= text.Length) return fullIds.Length;
        if (charOffset == 0) return 0;
        var prefix = _tokenizer.Encode(text[..charOffset], addSpecialTokens);
        return prefix.AsSpan().CommonPrefixLength(fullIds);
    }
}
