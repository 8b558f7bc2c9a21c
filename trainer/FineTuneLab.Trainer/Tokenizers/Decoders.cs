using System.Text;

namespace FineTuneLab.Trainer.Tokenizers;

/// <summary>A tokenizer.json decoder: HF's decode_chain over token strings; the final text is their concatenation.</summary>
internal abstract class Decoder
{
    public abstract List<string> DecodeChain(List<string> tokens);

    public string Decode(List<string> tokens) => string.Concat(DecodeChain(tokens));
}

internal sealed class SequenceDecoder(Decoder[] decoders) : Decoder
{
    public override List<string> DecodeChain(List<string> tokens)
    {
        foreach (var d in decoders) tokens = d.DecodeChain(tokens);
        return tokens;
    }
}

/// <summary>ByteLevel: token chars back to bytes through GPT-2's table (a token with a char outside it keeps its own
/// UTF-8), then one lossy UTF-8 decode of everything.</summary>
internal sealed class ByteLevelDecoder : Decoder
{
    public override List<string> DecodeChain(List<string> tokens)
    {
        var bytes = new List<byte>();
        foreach (var t in tokens)
        {
            var ok = true;
            foreach (var c in t)
                if (!ByteLevelAlphabet.CharToByte.ContainsKey(c)) { ok = false; break; }
            if (ok) foreach (var c in t) bytes.Add(ByteLevelAlphabet.CharToByte[c]);
            else bytes.AddRange(Encoding.UTF8.GetBytes(t));
        }
        return [Encoding.UTF8.GetString(bytes.ToArray())];
    }
}

internal sealed class ReplaceDecoder(string pattern, string content) : Decoder
{
    public override List<string> DecodeChain(List<string> tokens) =>
        tokens.Select(t => pattern.Length == 0 ? t : t.Replace(pattern, content, StringComparison.Ordinal)).ToList();
}

/// <summary>ByteFallback: runs of &lt;0xNN&gt; tokens become their UTF-8 text, or one U+FFFD per byte when invalid.</summary>
internal sealed class ByteFallbackDecoder : Decoder
{
    private static readonly UTF8Encoding Strict = new(false, true);

    public override List<string> DecodeChain(List<string> tokens)
    {
        var result = new List<string>(tokens.Count);
        var pending = new List<byte>();
        foreach (var t in tokens)
        {
            if (t.Length == 6 && t.StartsWith("<0x", StringComparison.Ordinal) && t[5] == '>' &&
                byte.TryParse(t.AsSpan(3, 2), System.Globalization.NumberStyles.HexNumber, null, out var b))
            {
                pending.Add(b);
                continue;
            }
            Flush(pending, result);
            result.Add(t);
        }
        Flush(pending, result);
        return result;
    }

    private static void Flush(List<byte> pending, List<string> result)
    {
        if (pending.Count == 0) return;
        try { result.Add(Strict.GetString(pending.ToArray())); }
        catch (DecoderFallbackException) { for (var i = 0; i < pending.Count; i++) result.Add("\uFFFD"); }
        pending.Clear();
    }
}

internal sealed class FuseDecoder : Decoder
{
    public override List<string> DecodeChain(List<string> tokens) => [string.Concat(tokens)];
}

/// <summary>Strip: removes up to <c>start</c> leading and <c>stop</c> trailing occurrences of one char from each token.</summary>
internal sealed class StripDecoder(char content, int start, int stop) : Decoder
{
    public override List<string> DecodeChain(List<string> tokens) => tokens.Select(t =>
    {
        var s = 0;
        while (s < start && s < t.Length && t[s] == content) s++;
        var e = t.Length;
        var removed = 0;
        while (removed < stop && e > s && t[e - 1] == content) { e--; removed++; }
        return t[s..e];
    }).ToList();
}

/// <summary>Metaspace: the replacement char becomes a space; the first token loses its leading one unless the scheme is never.</summary>
internal sealed class MetaspaceDecoder(char replacement, PrependScheme scheme) : Decoder
{
    public override List<string> DecodeChain(List<string> tokens)
    {
        var result = new List<string>(tokens.Count);
        for (var i = 0; i < tokens.Count; i++)
        {
            var sb = new StringBuilder(tokens[i].Length);
            foreach (var c in tokens[i])
            {
                if (c == replacement)
                {
                    if (i == 0 && sb.Length == 0 && scheme != PrependScheme.Never) continue;
                    sb.Append(' ');
                }
                else sb.Append(c);
            }
            result.Add(sb.ToString());
        }
        return result;
    }
}

/// <summary>BPEDecoder: the end-of-word suffix becomes a space (none after the last token).</summary>
internal sealed class BpeSuffixDecoder(string suffix) : Decoder
{
    public override List<string> DecodeChain(List<string> tokens) =>
        tokens.Select((t, i) => t.Replace(suffix, i == tokens.Count - 1 ? "" : " ", StringComparison.Ordinal)).ToList();
}
