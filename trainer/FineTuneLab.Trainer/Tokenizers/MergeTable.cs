using System.Runtime.CompilerServices;

namespace FineTuneLab.Trainer.Tokenizers;

/// <summary>BPE merges as an open-addressing hash map from an id pair to (rank, merged id): one probe sequence over
/// flat arrays, no allocation on lookup.</summary>
internal sealed class MergeTable
{
    private readonly long[] _keys;
    private readonly int[] _ranks;
    private readonly int[] _merged;
    private readonly int _mask;

    public MergeTable(int capacity)
    {
        var size = 16;
        while (size < capacity * 2) size <<= 1;
        _keys = new long[size];
        Array.Fill(_keys, -1L);
        _ranks = new int[size];
        _merged = new int[size];
        _mask = size - 1;
    }

    public int Count { get; private set; }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static long Key(int a, int b) => ((long)a << 32) | (uint)b;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private int Slot(long key) => (int)((ulong)(key * -7046029254386353131L) >> 40) & _mask;

    /// <summary>Sets a merge; a pair listed twice keeps the later entry, as HF's HashMap collect does.</summary>
    public void Set(int a, int b, int rank, int merged)
    {
        var key = Key(a, b);
        var i = Slot(key);
        while (_keys[i] != -1L)
        {
            if (_keys[i] == key) { _ranks[i] = rank; _merged[i] = merged; return; }
            i = (i + 1) & _mask;
        }
        _keys[i] = key;
        _ranks[i] = rank;
        _merged[i] = merged;
        Count++;
    }

    /// <summary>The rank of merging (a, b), or int.MaxValue when there is no such merge.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int Rank(int a, int b, out int merged)
    {
        var key = Key(a, b);
        var i = Slot(key);
        while (true)
        {
            var k = _keys[i];
            if (k == key) { merged = _merged[i]; return _ranks[i]; }
            if (k == -1L) { merged = -1; return int.MaxValue; }
            i = (i + 1) & _mask;
        }
    }
}
