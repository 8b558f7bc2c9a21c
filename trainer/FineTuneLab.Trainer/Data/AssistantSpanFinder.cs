using FineTuneLab.Trainer.Tokenizers.Jinja;

namespace FineTuneLab.Trainer.Data;

/// <summary>Which assistant turns of a chat carry loss.</summary>
public enum AssistantLoss
{
    /// <summary>Every assistant turn.</summary>
    AllTurns,
    /// <summary>Only the final assistant turn; earlier ones are context.</summary>
    LastTurn,
}

/// <summary>A rendered chat and the character ranges of the assistant turns that carry loss.</summary>
public sealed record RenderedChat(string Text, IReadOnlyList<Range> AssistantSpans);

/// <summary>
/// Finds where each assistant turn lies in a chat rendered by an arbitrary template, by prefix rendering.
/// <para>
/// Start of assistant turn i: render messages[..i] with add_generation_prompt=True. That is by design exactly the text
/// a model sees before it writes turn i (header included), so it must be a prefix of the full rendering F, and the
/// turn starts where it ends. A template for which it is not a prefix cannot be trained on with masked labels and is
/// reported as an error.
/// </para>
/// <para>
/// End of turn i: render messages[..(i+1)] without the generation prompt (Q). When Q is a prefix of F (most
/// templates: ChatML, Llama 2/3 instruct, Gemma) the turn ends where Q ends, so its closing tokens (&lt;|im_end|&gt;,
/// &lt;end_of_turn&gt;, &lt;/s&gt;, ...) are trained: the model must learn to stop. Some templates render a turn
/// differently when it is the last message: Qwen 3 adds an empty &lt;think&gt;&lt;/think&gt; block only to assistant
/// turns after the last user query, and some templates append a generation header after every rendering. Then the
/// turn's rendering A = Q minus the generation prompt differs from what F holds, and the end is found by matching:
/// the longest suffix of A that F continues with (Qwen 3: the scaffold dropped, content and &lt;|im_end|&gt; kept),
/// else the longest common prefix of A and F (text appended only after the last message dropped). Either match must
/// cover the turn's content, or the template is reported.
/// </para>
/// Markers substituted into the content were rejected as the primary method: templates transform content (trim,
/// reasoning split), which moves or removes the markers.
/// </summary>
public static class AssistantSpanFinder
{
    public static RenderedChat Render(ChatTemplate template, IReadOnlyList<ChatMessage> messages, AssistantLoss loss)
    {
        var full = template.Render(messages, addGenerationPrompt: false);
        var trailer = UnconditionalTrailer(template);
        var spans = new List<Range>();
        var assistantIndices = Enumerable.Range(0, messages.Count).Where(i => messages[i].Role == ChatRoles.Assistant).ToList();
        if (loss == AssistantLoss.LastTurn && assistantIndices.Count > 0) assistantIndices = [assistantIndices[^1]];
        var previousEnd = 0;
        foreach (var i in assistantIndices)
        {
            if (i == 0) throw new InvalidDataException("an assistant turn cannot come first: there is no prompt for it");
            var prompt = template.Render(Slice(messages, i), addGenerationPrompt: true);
            if (!full.StartsWith(prompt, StringComparison.Ordinal))
                throw new InvalidDataException($"{template.Origin}: rendering the messages before assistant turn {i} with the generation prompt " +
                                               "is not a prefix of the whole conversation's rendering, so its assistant tokens cannot be located");
            var start = prompt.Length;
            var withTurn = template.Render(Slice(messages, i + 1), addGenerationPrompt: false);
            int end;
            if (full.StartsWith(withTurn, StringComparison.Ordinal) && withTurn.Length >= start)
                end = withTurn.Length;
            else
                end = start + MatchTurn(template, withTurn, prompt, full, start, messages[i].Content, i);
            end -= LongestSuffixThatPrefixes(full.AsSpan(start, end - start), trailer);
            if (start < previousEnd || end <= start)
                throw new InvalidDataException($"{template.Origin}: assistant turn {i} could not be located in the rendering");
            spans.Add(start..end);
            previousEnd = end;
        }
        return new RenderedChat(full, spans);
    }

    /// <summary>
    /// Text a template appends after every rendering whatever add_generation_prompt says (some base-model templates
    /// always end with an assistant header): what it renders for an empty conversation, when that does not depend on
    /// the generation prompt. It belongs to the next turn, so it is cut from the end of an assistant span.
    /// </summary>
    private static string UnconditionalTrailer(ChatTemplate template)
    {
        try
        {
            var without = template.Render([], addGenerationPrompt: false);
            return without.Length > 0 && without == template.Render([], addGenerationPrompt: true) ? without : "";
        }
        catch (JinjaException)
        {
            return "";
        }
    }

    private static int LongestSuffixThatPrefixes(ReadOnlySpan<char> span, string trailer)
    {
        for (var n = Math.Min(span.Length, trailer.Length); n > 0; n--)
            if (span[^n..].SequenceEqual(trailer.AsSpan(0, n))) return n;
        return 0;
    }

    private static List<ChatMessage> Slice(IReadOnlyList<ChatMessage> messages, int count) => messages.Take(count).ToList();

    private static int MatchTurn(ChatTemplate template, string withTurn, string prompt, string full, int start, string content, int index)
    {
        var turn = withTurn.StartsWith(prompt, StringComparison.Ordinal) ? withTurn[prompt.Length..] : null;
        if (turn is null)
            throw new InvalidDataException($"{template.Origin}: assistant turn {index} renders differently after the generation prompt than the prompt itself");
        var rest = full.AsSpan(start);
        // The end of the content survives every template we know (trim, reasoning split keep it): the match must hold it.
        var trimmed = content.Trim();
        var needle = trimmed.Length > 16 ? trimmed[^16..] : trimmed;
        // Longest suffix of the turn that the full rendering continues with.
        for (var k = 0; k < turn.Length; k++)
        {
            var suffix = turn.AsSpan(k);
            if (rest.StartsWith(suffix, StringComparison.Ordinal) && suffix.IndexOf(needle, StringComparison.Ordinal) >= 0)
                return suffix.Length;
        }
        // Longest common prefix.
        var lcp = rest.CommonPrefixLength(turn.AsSpan());
        if (lcp > 0 && turn.AsSpan(0, lcp).IndexOf(needle, StringComparison.Ordinal) >= 0)
            return lcp;
        throw new InvalidDataException($"{template.Origin}: the text of assistant turn {index} was not found where the template renders it");
    }
}
