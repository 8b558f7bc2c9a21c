namespace FineTuneLab.Trainer.Tokenizers;

/// <summary>A tokenizer.json pre-tokenizer: rewrites <see cref="EncodeContext.Pieces"/> (and may append transformed text to the buffer).</summary>
internal abstract class PreTokenizer
{
    public abstract void Apply(EncodeContext ctx, NormalizedBuffer buf);
}

internal sealed class SequencePreTokenizer(PreTokenizer[] items) : PreTokenizer
{
    public override void Apply(EncodeContext ctx, NormalizedBuffer buf)
    {
        foreach (var p in items) p.Apply(ctx, buf);
    }
}

/// <summary>How Split keeps delimiters (HF's SplitDelimiterBehavior).</summary>
internal enum SplitBehavior { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous }

/// <summary>Split: cuts each piece at the matches of a pattern, as normalizer.rs split + pattern.rs find_matches.</summary>
internal sealed class SplitPreTokenizer(ISplitMatcher matcher, SplitBehavior behavior, bool invert) : PreTokenizer
{
    public override void Apply(EncodeContext ctx, NormalizedBuffer buf)
    {
        var input = ctx.Pieces;
        var output = ctx.PiecesScratch;
        output.Clear();
        for (var p = 0; p < input.Count; p++)
        {
            var piece = input[p];
            if (piece.IsToken) { output.Add(piece); continue; }
            SplitPiece(buf.Chars.AsSpan(piece.Start, piece.Length), piece.Start, ctx.Segments, output);
        }
        ctx.SwapPieces();
    }

    internal void SplitPiece(ReadOnlySpan<char> text, int baseOffset, List<(int Start, int End, bool Match)> segs, PieceList output)
    {
        // The common case (Isolated, or Removed with invert, and a matcher that covers everything) needs no segment list.
        segs.Clear();
        var prev = 0;
        var pos = 0;
        while (pos < text.Length && matcher.Find(text, pos, out var s, out var e))
        {
            if (prev != s) Emit(segs, output, baseOffset, prev, s, invert);
            Emit(segs, output, baseOffset, s, e, !invert);
            prev = e;
            pos = e > s ? e : e + 1;
        }
        if (prev != text.Length) Emit(segs, output, baseOffset, prev, text.Length, invert);
        if (behavior is SplitBehavior.Isolated or SplitBehavior.Removed) return;
        Finish(segs, output, baseOffset);
    }

    private void Emit(List<(int, int, bool)> segs, PieceList output, int baseOffset, int s, int e, bool isMatch)
    {
        switch (behavior)
        {
            case SplitBehavior.Isolated:
                if (e > s) output.Add(new Piece(baseOffset + s, e - s));
                break;
            case SplitBehavior.Removed:
                if (!isMatch && e > s) output.Add(new Piece(baseOffset + s, e - s));
                break;
            default:
                segs.Add((s, e, isMatch));
                break;
        }
    }

    private void Finish(List<(int Start, int End, bool Match)> segs, PieceList output, int baseOffset)
    {
        var merged = new List<(int Start, int End)>(segs.Count);
        var previousMatch = false;
        switch (behavior)
        {
            case SplitBehavior.Contiguous:
                for (var i = 0; i < segs.Count; i++)
                {
                    var (s, e, m) = segs[i];
                    if (m == previousMatch && merged.Count > 0) merged[^1] = (merged[^1].Start, e);
                    else merged.Add((s, e));
                    previousMatch = m;
                }
                break;
            case SplitBehavior.MergedWithPrevious:
                for (var i = 0; i < segs.Count; i++)
                {
                    var (s, e, m) = segs[i];
                    if (m && !previousMatch && merged.Count > 0) merged[^1] = (merged[^1].Start, e);
                    else merged.Add((s, e));
                    previousMatch = m;
                }
                break;
            case SplitBehavior.MergedWithNext:
                for (var i = segs.Count - 1; i >= 0; i--)
                {
                    var (s, e, m) = segs[i];
                    if (m && !previousMatch && merged.Count > 0) merged[^1] = (s, merged[^1].End);
                    else merged.Add((s, e));
                    previousMatch = m;
                }
                merged.Reverse();
                break;
        }
        foreach (var (s, e) in merged)
            if (e > s) output.Add(new Piece(baseOffset + s, e - s));
    }
}

/// <summary>ByteLevel: optional prefix space, optional GPT-2 regex split, then the byte-to-char mapping (which the
/// model applies: <see cref="EncodeContext.ByteLevel"/> tells it the pieces are byte-level).</summary>
internal sealed class ByteLevelPreTokenizer(bool addPrefixSpace, bool useRegex) : PreTokenizer
{
    private readonly SplitPreTokenizer _gpt2 = new(SplitMatchers.ForRegex(SplitMatchers.Gpt2Pattern), SplitBehavior.Isolated, false);

    public override void Apply(EncodeContext ctx, NormalizedBuffer buf)
    {
        if (addPrefixSpace)
        {
            var pieces = ctx.Pieces;
            for (var p = 0; p < pieces.Count; p++)
            {
                var piece = pieces[p];
                if (piece.IsToken || buf.Chars[piece.Start] == ' ') continue;
                pieces[p] = PrependTo(buf, piece, " ");
            }
        }
        if (useRegex) _gpt2.Apply(ctx, buf);
        ctx.ByteLevel = true;
    }

    /// <summary>Copies the piece to the end of the buffer behind <paramref name="prefix"/> (aligned with its first char).</summary>
    internal static Piece PrependTo(NormalizedBuffer buf, Piece piece, string prefix)
    {
        var start = buf.Length;
        var w = piece.Length > 1 && char.IsHighSurrogate(buf.Chars[piece.Start]) ? 2 : 1;
        var os = buf.OrigStart[piece.Start];
        var oe = buf.OrigEnd[piece.Start + w - 1];
        buf.EnsureCapacity(buf.Length + prefix.Length + piece.Length);
        foreach (var c in prefix) buf.Append(c, os, oe);
        buf.AppendRange(buf, piece.Start, piece.Length);
        return new Piece(start, buf.Length - start);
    }
}

internal enum PrependScheme { Always, First, Never }

/// <summary>Metaspace: spaces become the replacement char, a replacement is prepended per the scheme, then pieces are
/// split before each replacement char (MergedWithNext), as metaspace.rs.</summary>
internal sealed class MetaspacePreTokenizer(char replacement, PrependScheme scheme, bool split) : PreTokenizer
{
    private readonly SplitPreTokenizer _splitter = new(SplitMatchers.ForLiteral(replacement.ToString()), SplitBehavior.MergedWithNext, false);

    public override void Apply(EncodeContext ctx, NormalizedBuffer buf)
    {
        var pieces = ctx.Pieces;
        for (var p = 0; p < pieces.Count; p++)
        {
            var piece = pieces[p];
            if (piece.IsToken) continue;
            buf.Chars.AsSpan(piece.Start, piece.Length).Replace(' ', replacement);
            var prepend = scheme switch
            {
                PrependScheme.Always => buf.Chars[piece.Start] != replacement,
                PrependScheme.First => buf.Chars[piece.Start] != replacement && buf.OrigStart[piece.Start] == 0,
                _ => false,
            };
            if (prepend) pieces[p] = ByteLevelPreTokenizer.PrependTo(buf, piece, replacement.ToString());
        }
        if (split) _splitter.Apply(ctx, buf);
    }
}
