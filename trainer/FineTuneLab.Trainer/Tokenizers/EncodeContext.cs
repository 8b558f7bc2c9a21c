using System.Text;

namespace FineTuneLab.Trainer.Tokenizers;

/// <summary>Per-thread scratch state of one tokenizer: buffers, piece lists, BPE symbol arrays and the word cache.
/// Encoding allocates nothing once these have grown to the text's size (except cache entries for new words).</summary>
internal sealed class EncodeContext
{
    public const int MaxCachedPieceLength = 256;
    private const int MaxCacheEntries = 200_000;

    public readonly NormalizedBuffer BufA = new();
    public readonly NormalizedBuffer BufB = new();
    public PieceList Pieces = new();
    public PieceList PiecesScratch = new();
    public readonly PieceList Segments0 = new();
    public readonly List<(int Start, int End, bool Match)> Segments = [];
    public bool ByteLevel;

    public byte[] Bytes = new byte[256];
    public int[] ByteUnitStart = new int[256];
    public int[] ByteUnitEnd = new int[256];
    private char[] _chars = new char[256];

    public int[] SymId = new int[64];
    public int[] SymStart = new int[64];
    public int[] SymEnd = new int[64];
    public int[] PairRank = new int[64];
    public int[] PairMerged = new int[64];
    public int[] Prev = new int[64];
    public int[] Next = new int[64];
    public readonly MinHeap Heap = new();

    private readonly Dictionary<string, int[]> _cache = new(StringComparer.Ordinal);
    public readonly Dictionary<string, int[]>.AlternateLookup<ReadOnlySpan<char>> CacheLookup;

    public EncodeContext() => CacheLookup = _cache.GetAlternateLookup<ReadOnlySpan<char>>();

    public void SwapPieces() => (Pieces, PiecesScratch) = (PiecesScratch, Pieces);

    public void CacheAdd(ReadOnlySpan<char> word, ReadOnlySpan<int> ids)
    {
        if (_cache.Count >= MaxCacheEntries) _cache.Clear();
        CacheLookup.TryAdd(word, ids.ToArray());
    }

    public void EnsureSymbols(int n)
    {
        if (n <= SymId.Length) return;
        var size = Math.Max(n, SymId.Length * 2);
        Array.Resize(ref SymId, size);
        Array.Resize(ref SymStart, size);
        Array.Resize(ref SymEnd, size);
        Array.Resize(ref PairRank, size);
        Array.Resize(ref PairMerged, size);
    }

    public void EnsureLinks(int n)
    {
        if (n <= Prev.Length) return;
        Prev = new int[Math.Max(n, Prev.Length * 2)];
        Next = new int[Prev.Length];
    }

    public Span<char> CharScratch(int n)
    {
        if (_chars.Length < n) _chars = new char[Math.Max(n, _chars.Length * 2)];
        return _chars;
    }

    /// <summary>UTF-8 of <paramref name="chars"/> into <see cref="Bytes"/>, with each byte's char span (units) for offsets.
    /// A lone surrogate becomes U+FFFD, as it cannot occur in a Rust string.</summary>
    public int Utf8(ReadOnlySpan<char> chars)
    {
        var max = chars.Length * 3;
        if (Bytes.Length < max)
        {
            var size = Math.Max(max, Bytes.Length * 2);
            Bytes = new byte[size];
            ByteUnitStart = new int[size];
            ByteUnitEnd = new int[size];
        }
        var n = 0;
        for (var i = 0; i < chars.Length;)
        {
            var c = chars[i];
            if (c < 0x80)
            {
                ByteUnitStart[n] = i;
                ByteUnitEnd[n] = i + 1;
                Bytes[n++] = (byte)c;
                i++;
                continue;
            }
            var w = char.IsHighSurrogate(c) && i + 1 < chars.Length && char.IsLowSurrogate(chars[i + 1]) ? 2 : 1;
            var k = Encoding.UTF8.GetBytes(chars.Slice(i, w), Bytes.AsSpan(n));
            for (var j = 0; j < k; j++)
            {
                ByteUnitStart[n + j] = i;
                ByteUnitEnd[n + j] = i + w;
            }
            n += k;
            i += w;
        }
        return n;
    }
}
