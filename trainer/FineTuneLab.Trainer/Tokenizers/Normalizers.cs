using System.Text;
using System.Text.RegularExpressions;

namespace FineTuneLab.Trainer.Tokenizers;

/// <summary>A tokenizer.json normalizer. Returns the buffer that holds the result: <paramref name="input"/> itself when
/// nothing changed, else <paramref name="scratch"/>.</summary>
internal abstract class Normalizer
{
    public abstract NormalizedBuffer Apply(NormalizedBuffer input, NormalizedBuffer scratch);

    /// <summary>Normalizes a plain string (added tokens' contents with normalized: true).</summary>
    public string NormalizeString(string s)
    {
        var a = new NormalizedBuffer();
        a.Load(s, 0, s.Length);
        var r = Apply(a, new NormalizedBuffer());
        return new string(r.Text);
    }
}

internal sealed class SequenceNormalizer(Normalizer[] normalizers) : Normalizer
{
    public override NormalizedBuffer Apply(NormalizedBuffer input, NormalizedBuffer scratch)
    {
        var cur = input;
        var other = scratch;
        foreach (var n in normalizers)
        {
            var r = n.Apply(cur, other);
            if (!ReferenceEquals(r, cur)) (cur, other) = (r, cur);
        }
        return cur;
    }
}

/// <summary>Prepend: adds a prefix to non-empty text; the prefix aligns with the first character, as HF's prepend.</summary>
internal sealed class PrependNormalizer(string prefix) : Normalizer
{
    public override NormalizedBuffer Apply(NormalizedBuffer input, NormalizedBuffer scratch)
    {
        if (input.Length == 0) return input;
        scratch.Clear();
        scratch.EnsureCapacity(input.Length + prefix.Length);
        var (s, e) = FirstCharSpan(input);
        foreach (var c in prefix) scratch.Append(c, s, e);
        scratch.AppendRange(input, 0, input.Length);
        return scratch;
    }

    internal static (int Start, int End) FirstCharSpan(NormalizedBuffer b)
    {
        var w = b.Length > 1 && char.IsHighSurrogate(b.Chars[0]) && char.IsLowSurrogate(b.Chars[1]) ? 2 : 1;
        return (b.OrigStart[0], b.OrigEnd[w - 1]);
    }
}

/// <summary>Replace: every match of a literal or regex becomes <c>content</c>; replacement chars align with the matched span.</summary>
internal sealed class ReplaceNormalizer : Normalizer
{
    private readonly string? _literal;
    private readonly Regex? _regex;
    private readonly string _content;

    public ReplaceNormalizer(string? literal, Regex? regex, string content)
    {
        _literal = literal;
        _regex = regex;
        _content = content;
    }

    public override NormalizedBuffer Apply(NormalizedBuffer input, NormalizedBuffer scratch)
    {
        if (_literal is { Length: 1 } && _content.Length == 1)
        {
            input.Text.Replace(_literal[0], _content[0]);
            return input;
        }
        scratch.Clear();
        scratch.EnsureCapacity(input.Length);
        var text = input.Text;
        var pos = 0;
        var changed = false;
        while (pos <= text.Length)
        {
            int ms, ml;
            if (_literal is not null)
            {
                var k = _literal.Length == 0 ? -1 : text[pos..].IndexOf(_literal, StringComparison.Ordinal);
                if (k < 0) break;
                (ms, ml) = (pos + k, _literal.Length);
            }
            else
            {
                var found = false;
                (ms, ml) = (0, 0);
                foreach (var m in _regex!.EnumerateMatches(text, pos)) { (ms, ml) = (m.Index, m.Length); found = true; break; }
                if (!found || ml == 0) break;
            }
            scratch.AppendRange(input, pos, ms - pos);
            var os = input.OrigStart[ms];
            var oe = input.OrigEnd[ms + ml - 1];
            foreach (var c in _content) scratch.Append(c, os, oe);
            pos = ms + ml;
            changed = true;
        }
        if (!changed) return input;
        scratch.AppendRange(input, pos, input.Length - pos);
        return scratch;
    }
}

/// <summary>NFC / NFD / NFKC / NFKD through ICU. Text is processed in chunks between normalization boundaries, so
/// alignments stay local to each chunk.</summary>
internal sealed class UnicodeNormalizer(NormalizationForm form) : Normalizer
{
    public override NormalizedBuffer Apply(NormalizedBuffer input, NormalizedBuffer scratch)
    {
        var text = input.Text;
        var ascii = true;
        foreach (var c in text)
            if (c >= 0x80) { ascii = false; break; }
        if (ascii) return input; // ASCII is stable under every normalization form
        var icu = IcuNormalization.Get(form);
        var prefix = icu.QuickCheckPrefix(text);
        if (prefix == text.Length) return input;

        scratch.Clear();
        scratch.EnsureCapacity(input.Length + 16);
        scratch.AppendRange(input, 0, prefix);
        var i = prefix;
        while (i < text.Length)
        {
            var j = i + Width(text, i);
            while (j < text.Length && !icu.HasBoundaryBefore(CodePoint(text, j))) j += Width(text, j);
            var chunk = text[i..j];
            var normalized = icu.Normalize(chunk);
            if (normalized.AsSpan().SequenceEqual(chunk)) scratch.AppendRange(input, i, j - i);
            else
            {
                // As HF's alignments: output chars pair with input chars in order (a composed char takes the span of
                // the first char it replaced); extra output chars take the last input char's span.
                var src = i;
                for (var k = 0; k < normalized.Length;)
                {
                    var srcWidth = Width(text, src);
                    var os = input.OrigStart[src];
                    var oe = input.OrigEnd[src + srcWidth - 1];
                    var outWidth = Width(normalized, k);
                    for (var u = 0; u < outWidth; u++) scratch.Append(normalized[k + u], os, oe);
                    k += outWidth;
                    if (src + srcWidth < j) src += srcWidth;
                }
            }
            i = j;
        }
        return scratch;
    }

    private static int Width(ReadOnlySpan<char> s, int i) =>
        char.IsHighSurrogate(s[i]) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1]) ? 2 : 1;

    private static int CodePoint(ReadOnlySpan<char> s, int i) =>
        Width(s, i) == 2 ? char.ConvertToUtf32(s[i], s[i + 1]) : s[i];
}

/// <summary>Lowercase: per-char full lowercase mapping, as Rust's char::to_lowercase (İ becomes i + combining dot).</summary>
internal sealed class LowercaseNormalizer : Normalizer
{
    public override NormalizedBuffer Apply(NormalizedBuffer input, NormalizedBuffer scratch)
    {
        var t = input.Text;
        if (t.IndexOf('\u0130') < 0)
        {
            for (var i = 0; i < t.Length; i++) t[i] = char.ToLowerInvariant(t[i]);
            return input;
        }
        scratch.Clear();
        scratch.EnsureCapacity(input.Length * 2);
        for (var i = 0; i < t.Length; i++)
        {
            scratch.Append(t[i] == '\u0130' ? 'i' : char.ToLowerInvariant(t[i]), input.OrigStart[i], input.OrigEnd[i]);
            if (t[i] == '\u0130') scratch.Append('\u0307', input.OrigStart[i], input.OrigEnd[i]);
        }
        return scratch;
    }
}

/// <summary>Strip: removes leading and/or trailing whitespace.</summary>
internal sealed class StripNormalizer(bool left, bool right) : Normalizer
{
    public override NormalizedBuffer Apply(NormalizedBuffer input, NormalizedBuffer scratch)
    {
        var t = input.Text;
        var s = 0;
        var e = t.Length;
        if (left) while (s < e && char.IsWhiteSpace(t[s])) s++;
        if (right) while (e > s && char.IsWhiteSpace(t[e - 1])) e--;
        if (s == 0 && e == t.Length) return input;
        scratch.Clear();
        scratch.AppendRange(input, s, e - s);
        return scratch;
    }
}

/// <summary>StripAccents: removes non-spacing marks (meant to follow NFD, as in HF).</summary>
internal sealed class StripAccentsNormalizer : Normalizer
{
    public override NormalizedBuffer Apply(NormalizedBuffer input, NormalizedBuffer scratch)
    {
        scratch.Clear();
        scratch.EnsureCapacity(input.Length);
        for (var i = 0; i < input.Length; i++)
            if (System.Globalization.CharUnicodeInfo.GetUnicodeCategory(input.Chars[i]) != System.Globalization.UnicodeCategory.NonSpacingMark)
                scratch.Append(input.Chars[i], input.OrigStart[i], input.OrigEnd[i]);
        return scratch;
    }
}
