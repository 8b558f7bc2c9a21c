using System.Text;

namespace FineTuneLab.Trainer.Tokenizers;

/// <summary>The BPE model of tokenizer.json (bpe/model.rs): initial symbols from characters (with byte_fallback,
/// unk, fuse_unk) or, for byte-level tokenizers, from UTF-8 bytes; then the lowest-rank, leftmost merge repeatedly.</summary>
internal sealed class BpeModel
{
    private readonly Utf8Vocabulary _vocab;
    private readonly MergeTable _merges;
    private readonly int[] _charIds = new int[65536];
    private readonly int[] _byteLevelIds = new int[256];
    private readonly int[]? _byteFallbackIds;
    private readonly bool _ignoreMerges;
    private readonly bool _fuseUnk;
    private readonly int _unkId;
    private readonly string? _prefix;
    private readonly string? _suffix;

    public BpeModel(Utf8Vocabulary vocab, MergeTable merges, string? unkToken, bool fuseUnk, bool byteFallback, bool ignoreMerges,
        string? continuingSubwordPrefix, string? endOfWordSuffix)
    {
        _vocab = vocab;
        _merges = merges;
        _fuseUnk = fuseUnk;
        _ignoreMerges = ignoreMerges;
        _prefix = string.IsNullOrEmpty(continuingSubwordPrefix) ? null : continuingSubwordPrefix;
        _suffix = string.IsNullOrEmpty(endOfWordSuffix) ? null : endOfWordSuffix;
        _unkId = unkToken is not null && vocab.TokenToId(unkToken) is { } u ? u : -1;
        UnkToken = unkToken;

        Array.Fill(_charIds, -1);
        vocab.FillSingleCharIds(_charIds);
        for (var b = 0; b < 256; b++)
            _byteLevelIds[b] = vocab.TryGetId(new ReadOnlySpan<char>(in ByteLevelAlphabet.ByteToChar[b]), out var id) ? id : -1;
        if (byteFallback)
        {
            _byteFallbackIds = new int[256];
            for (var b = 0; b < 256; b++)
                _byteFallbackIds[b] = vocab.TokenToId($"<0x{b:X2}>") ?? -1;
        }
    }

    /// <summary>One more than the largest token id of the model vocabulary.</summary>
    public int IdCount => _vocab.IdCount;
    public string? UnkToken { get; }
    public int UnkId => _unkId;

    public int? TokenToId(string token) => _vocab.TokenToId(token);

    /// <summary>The token of an id of the model vocabulary, or null.</summary>
    public string? IdToToken(int id) => _vocab.Token(id);

    /// <summary>Encodes one piece, appending ids (and original-text offsets when <paramref name="offsets"/> is given).</summary>
    public void Encode(EncodeContext ctx, NormalizedBuffer buf, Piece piece, List<int> ids, List<(int, int)>? offsets)
    {
        var chars = buf.Chars.AsSpan(piece.Start, piece.Length);
        var cacheable = offsets is null && chars.Length <= EncodeContext.MaxCachedPieceLength;
        if (cacheable && ctx.CacheLookup.TryGetValue(chars, out var cached))
        {
            ids.AddRange(cached);
            return;
        }

        var byteLevel = ctx.ByteLevel;
        int n;
        if (byteLevel)
        {
            var nbytes = ctx.Utf8(chars);
            if (_ignoreMerges)
            {
                var mapped = ctx.CharScratch(nbytes);
                for (var i = 0; i < nbytes; i++) mapped[i] = ByteLevelAlphabet.ByteToChar[ctx.Bytes[i]];
                if (_vocab.TryGetId(mapped[..nbytes], out var whole))
                {
                    Whole(ctx, buf, piece, whole, ids, offsets, cacheable, chars);
                    return;
                }
            }
            n = ByteSymbols(ctx, nbytes);
        }
        else
        {
            if (_ignoreMerges && _vocab.TryGetId(chars, out var whole))
            {
                Whole(ctx, buf, piece, whole, ids, offsets, cacheable, chars);
                return;
            }
            n = CharSymbols(ctx, chars);
        }

        n = MergeAll(ctx, n);

        var sym = ctx.SymId;
        for (var i = 0; i < n; i++) ids.Add(sym[i]);
        if (offsets is not null)
        {
            for (var i = 0; i < n; i++)
            {
                int us, ue;
                if (byteLevel) (us, ue) = (ctx.ByteUnitStart[ctx.SymStart[i]], ctx.ByteUnitEnd[ctx.SymEnd[i] - 1]);
                else (us, ue) = (ctx.SymStart[i], ctx.SymEnd[i]);
                offsets.Add((buf.OrigStart[piece.Start + us], buf.OrigEnd[piece.Start + ue - 1]));
            }
        }
        if (cacheable) ctx.CacheAdd(chars, sym.AsSpan(0, n));
    }

    private static void Whole(EncodeContext ctx, NormalizedBuffer buf, Piece piece, int id, List<int> ids,
        List<(int, int)>? offsets, bool cacheable, ReadOnlySpan<char> chars)
    {
        ids.Add(id);
        offsets?.Add((buf.OrigStart[piece.Start], buf.OrigEnd[piece.Start + piece.Length - 1]));
        if (cacheable) ctx.CacheAdd(chars, [id]);
    }

    private int ByteSymbols(EncodeContext ctx, int nbytes)
    {
        ctx.EnsureSymbols(nbytes);
        var n = 0;
        for (var i = 0; i < nbytes; i++)
        {
            var id = _byteLevelIds[ctx.Bytes[i]];
            if (id < 0)
            {
                if (_unkId < 0) continue;
                id = _unkId;
            }
            ctx.SymId[n] = id;
            ctx.SymStart[n] = i;
            ctx.SymEnd[n] = i + 1;
            n++;
        }
        return n;
    }

    private int CharSymbols(EncodeContext ctx, ReadOnlySpan<char> chars)
    {
        ctx.EnsureSymbols(chars.Length * 4 + 1);
        var n = 0;
        int unkStart = -1, unkEnd = -1;
        Span<byte> utf8 = stackalloc byte[8];
        for (var i = 0; i < chars.Length;)
        {
            var w = char.IsHighSurrogate(chars[i]) && i + 1 < chars.Length && char.IsLowSurrogate(chars[i + 1]) ? 2 : 1;
            var isFirst = i == 0;
            var isLast = i + w == chars.Length;
            int id;
            string? composed = null;
            if ((_prefix is not null && !isFirst) || (_suffix is not null && isLast))
            {
                composed = (_prefix is not null && !isFirst ? _prefix : "") + chars.Slice(i, w).ToString() + (_suffix is not null && isLast ? _suffix : "");
                id = _vocab.TryGetId(composed.AsSpan(), out var v) ? v : -1;
            }
            else if (w == 1) id = _charIds[chars[i]];
            else id = _vocab.TryGetId(chars.Slice(i, w), out var v) ? v : -1;

            if (id >= 0)
            {
                if (unkStart >= 0) { Add(ctx, ref n, _unkId, unkStart, unkEnd); unkStart = -1; }
                Add(ctx, ref n, id, i, i + w);
            }
            else if (!TryByteFallback(ctx, ref n, composed, chars.Slice(i, w), i, i + w, utf8) && _unkId >= 0)
            {
                if (unkStart >= 0 && _fuseUnk) unkEnd = i + w;
                else
                {
                    if (unkStart >= 0) Add(ctx, ref n, _unkId, unkStart, unkEnd);
                    (unkStart, unkEnd) = (i, i + w);
                }
            }
            i += w;
        }
        if (unkStart >= 0) Add(ctx, ref n, _unkId, unkStart, unkEnd);
        return n;
    }

    private bool TryByteFallback(EncodeContext ctx, ref int n, string? composed, ReadOnlySpan<char> ch, int start, int end, Span<byte> utf8)
    {
        if (_byteFallbackIds is null) return false;
        var bytes = composed is null ? utf8[..Encoding.UTF8.GetBytes(ch, utf8)] : Encoding.UTF8.GetBytes(composed);
        foreach (var b in bytes)
            if (_byteFallbackIds[b] < 0) return false;
        ctx.EnsureSymbols(n + bytes.Length);
        foreach (var b in bytes) Add(ctx, ref n, _byteFallbackIds[b], start, end);
        return true;
    }

    private static void Add(EncodeContext ctx, ref int n, int id, int start, int end)
    {
        ctx.EnsureSymbols(n + 1);
        ctx.SymId[n] = id;
        ctx.SymStart[n] = start;
        ctx.SymEnd[n] = end;
        n++;
    }

    private const int LinearMergeLimit = 48;

    /// <summary>Applies merges until none applies: each round the lowest rank, leftmost pair. Pair ranks are cached
    /// per position so a round is one scan over ints; symbols are removed by shifting (words are short).</summary>
    private int MergeAll(EncodeContext ctx, int n)
    {
        if (n < 2) return n;
        if (n > LinearMergeLimit) return MergeAllWithHeap(ctx, n);
        var sym = ctx.SymId;
        var st = ctx.SymStart;
        var en = ctx.SymEnd;
        var rank = ctx.PairRank;
        var merged = ctx.PairMerged;
        for (var i = 0; i < n - 1; i++) rank[i] = _merges.Rank(sym[i], sym[i + 1], out merged[i]);
        while (n > 1)
        {
            var best = int.MaxValue;
            var bi = -1;
            for (var i = 0; i < n - 1; i++)
                if (rank[i] < best) { best = rank[i]; bi = i; }
            if (bi < 0) break;
            sym[bi] = merged[bi];
            en[bi] = en[bi + 1];
            var tail = n - bi - 2;
            if (tail > 0)
            {
                Array.Copy(sym, bi + 2, sym, bi + 1, tail);
                Array.Copy(st, bi + 2, st, bi + 1, tail);
                Array.Copy(en, bi + 2, en, bi + 1, tail);
                Array.Copy(rank, bi + 2, rank, bi + 1, tail - 1 > 0 ? tail - 1 : 0);
                Array.Copy(merged, bi + 2, merged, bi + 1, tail - 1 > 0 ? tail - 1 : 0);
            }
            n--;
            if (bi < n - 1) rank[bi] = _merges.Rank(sym[bi], sym[bi + 1], out merged[bi]);
            if (bi > 0) rank[bi - 1] = _merges.Rank(sym[bi - 1], sym[bi], out merged[bi - 1]);
        }
        return n;
    }

    /// <summary>The same merge order for long words in O(n log n), as HF's Word::merge_all: a heap of (rank, position)
    /// over a linked list of symbols; stale entries (a side already merged away) are skipped when popped.</summary>
    private int MergeAllWithHeap(EncodeContext ctx, int n)
    {
        ctx.EnsureLinks(n);
        var sym = ctx.SymId;
        var st = ctx.SymStart;
        var en = ctx.SymEnd;
        var prev = ctx.Prev;
        var next = ctx.Next;
        var heap = ctx.Heap;
        heap.Clear();
        for (var i = 0; i < n; i++)
        {
            prev[i] = i - 1;
            next[i] = i + 1 < n ? i + 1 : -1;
            if (i + 1 >= n) continue;
            var r = _merges.Rank(sym[i], sym[i + 1], out _);
            if (r != int.MaxValue) heap.Push(((long)r << 32) | (uint)i);
        }
        while (heap.Count > 0)
        {
            var key = heap.Pop();
            var pos = (int)(key & 0xFFFFFFFF);
            var rank = (int)(key >> 32);
            if (sym[pos] < 0) continue;
            var right = next[pos];
            if (right < 0) continue;
            // Ranks are unique per pair, so an equal rank means the pair here is still the one queued.
            if (_merges.Rank(sym[pos], sym[right], out var mergedId) != rank) continue;
            sym[pos] = mergedId;
            en[pos] = en[right];
            sym[right] = -1;
            next[pos] = next[right];
            if (next[pos] >= 0) prev[next[pos]] = pos;
            var left = prev[pos];
            if (left >= 0)
            {
                var r = _merges.Rank(sym[left], sym[pos], out _);
                if (r != int.MaxValue) heap.Push(((long)r << 32) | (uint)left);
            }
            if (next[pos] >= 0)
            {
                var r = _merges.Rank(sym[pos], sym[next[pos]], out _);
                if (r != int.MaxValue) heap.Push(((long)r << 32) | (uint)pos);
            }
        }
        var k = 0;
        for (var i = 0; i >= 0 && i < n; i = next[i])
        {
            sym[k] = sym[i];
            st[k] = st[i];
            en[k] = en[i];
            k++;
        }
        return k;
    }
}
