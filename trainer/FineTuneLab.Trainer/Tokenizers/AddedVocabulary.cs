namespace FineTuneLab.Trainer.Tokenizers;

/// <summary>One entry of tokenizer.json's <c>added_tokens</c>.</summary>
public sealed record AddedToken(int Id, string Content, bool Special, bool SingleWord, bool LStrip, bool RStrip, bool Normalized);

/// <summary>Added and special tokens, matched in the text before the model runs, as HF's added_vocabulary.rs:
/// tokens with normalized=false on the raw text, the others on the normalized text; leftmost-longest matching
/// (aho-corasick's LeftmostLongest), then single_word / lstrip / rstrip applied to each match.</summary>
internal sealed class AddedVocabulary
{
    private readonly Dictionary<int, AddedToken> _byId = [];
    private readonly Dictionary<string, AddedToken> _byContent = new(StringComparer.Ordinal);
    private readonly TokenTrie _raw = new();
    private readonly TokenTrie _normalized = new();

    public AddedVocabulary(IReadOnlyList<AddedToken> tokens, Normalizer? normalizer)
    {
        Tokens = tokens;
        foreach (var t in tokens)
        {
            _byId[t.Id] = t;
            _byContent[t.Content] = t;
            if (t.Content.Length == 0) continue;
            if (t.Normalized)
            {
                var pattern = normalizer?.NormalizeString(t.Content) ?? t.Content;
                if (pattern.Length > 0) _normalized.Add(pattern, t);
            }
            else _raw.Add(t.Content, t);
        }
    }

    public IReadOnlyList<AddedToken> Tokens { get; }
    public bool HasRaw => _raw.Count > 0;
    public bool HasNormalized => _normalized.Count > 0;

    public AddedToken? ById(int id) => _byId.GetValueOrDefault(id);
    public AddedToken? ByContent(string content) => _byContent.GetValueOrDefault(content);
    public bool IsSpecial(int id) => _byId.TryGetValue(id, out var t) && t.Special;

    /// <summary>Splits text into pieces (text ranges and matched tokens) using the raw-text tokens.</summary>
    public void SplitRaw(ReadOnlySpan<char> text, PieceList output) => Split(_raw, text, 0, output);

    /// <summary>Splits a normalized range into pieces using the normalized tokens.</summary>
    public void SplitNormalized(ReadOnlySpan<char> text, int baseOffset, PieceList output) => Split(_normalized, text, baseOffset, output);

    private static void Split(TokenTrie trie, ReadOnlySpan<char> s, int baseOffset, PieceList output)
    {
        var startOffset = 0;
        var pos = 0;
        while (pos < s.Length)
        {
            var (mStart, mEnd, token) = trie.FindLeftmostLongest(s, pos);
            if (token is null) break;
            pos = mEnd; // aho-corasick continues after the raw match, not after stripped spaces
            var start = mStart;
            var stop = mEnd;
            if (token.SingleWord)
            {
                var startSpace = start == 0 || !IsWordChar(s, start - 1, before: true);
                var stopSpace = stop == s.Length || !IsWordChar(s, stop, before: false);
                if (!startSpace || !stopSpace) continue;
            }
            if (token.LStrip)
            {
                var ns = start;
                while (ns > 0 && char.IsWhiteSpace(s[ns - 1])) ns--;
                start = Math.Max(ns, startOffset);
            }
            if (token.RStrip)
                while (stop < s.Length && char.IsWhiteSpace(s[stop])) stop++;
            if (startOffset < start) output.Add(new Piece(baseOffset + startOffset, start - startOffset));
            output.Add(new Piece(baseOffset + start, stop - start, token.Id));
            startOffset = stop;
        }
        if (startOffset < s.Length) output.Add(new Piece(baseOffset + startOffset, s.Length - startOffset));
    }

    private static bool IsWordChar(ReadOnlySpan<char> s, int i, bool before)
    {
        if (before && i > 0 && char.IsLowSurrogate(s[i]) && char.IsHighSurrogate(s[i - 1])) i--;
        return (UnicodeClass.At(s, i, out _) & UnicodeClass.Word) != 0;
    }

    /// <summary>A character trie over token contents, with a first-char filter so most positions cost one lookup.</summary>
    private sealed class TokenTrie
    {
        private readonly List<Dictionary<char, int>> _children = [[]];
        private readonly List<AddedToken?> _terminal = [null];
        private readonly bool[] _first = new bool[65536];

        public int Count { get; private set; }

        public void Add(string content, AddedToken token)
        {
            var node = 0;
            foreach (var c in content)
            {
                if (!_children[node].TryGetValue(c, out var next))
                {
                    next = _children.Count;
                    _children.Add([]);
                    _terminal.Add(null);
                    _children[node][c] = next;
                }
                node = next;
            }
            if (_terminal[node] is null) Count++;
            _terminal[node] ??= token; // the first token listed with this content wins, like HF's map
            _first[content[0]] = true;
        }

        public (int Start, int End, AddedToken? Token) FindLeftmostLongest(ReadOnlySpan<char> s, int from)
        {
            if (Count == 0) return (0, 0, null);
            for (var i = from; i < s.Length; i++)
            {
                if (!_first[s[i]]) continue;
                var node = 0;
                AddedToken? best = null;
                var bestEnd = 0;
                for (var j = i; j < s.Length; j++)
                {
                    if (!_children[node].TryGetValue(s[j], out node)) break;
                    if (_terminal[node] is { } t) { best = t; bestEnd = j + 1; }
                }
                if (best is not null) return (i, bestEnd, best);
            }
            return (0, 0, null);
        }
    }
}
