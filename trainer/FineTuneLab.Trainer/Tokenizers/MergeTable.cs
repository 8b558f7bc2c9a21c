using System.Runtime.CompilerServices;

namespace FineTuneLab.Trainer.Tokenizers;

/// <summary>BPE merges as an open-addressing hash map from an id pair to (rank, merged id): one probe sequence over
/// flat arrays, no allocation on lookup; kept at most half full.</summary>
internal sealed class MergeTable
{
    private long[] _keys;
    private int[] _ranks;
    private int[] _merged;
    private int _mask;

    public MergeTable(int expected)
    {
        var size = 16;
        while (size < expected * 2) size <<= 1;
        (_keys, _ranks, _merged, _mask) = Allocate(size);
    }

    private static (long[], int[], int[], int) Allocate(int size)
    {
        var keys = new long[size];
        Array.Fill(keys, -1L);
        return (keys, new int[size], new int[size], size - 1);
    }

    public int Count { get; private set; }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static long Key(int a, int b) => ((long)a << 32) | (uint)b;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int Slot(long key, int mask)
    {
        // A full 64-bit mix (splitmix64's finalizer): ids are small and dense, so weak mixing would cluster linear probes.
        var h = (ulong)key;
        h = (h ^ (h >> 30)) * 0xBF58476D1CE4E5B9UL;
        h = (h ^ (h >> 27)) * 0x94D049BB133111EBUL;
        return (int)(h ^ (h >> 31)) & mask;
    }

    /// <summary>Sets a merge; a pair listed twice keeps the later entry, as HF's HashMap collect does.</summary>
    public void Set(int a, int b, int rank, int merged)
    {
        if ((Count + 1) * 2 > _keys.Length) Grow();
        Insert(Key(a, b), rank, merged);
    }

    private void Insert(long key, int rank, int merged)
    {
        var i = Slot(key, _mask);
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

    private void Grow()
    {
        var (keys, ranks, merged) = (_keys, _ranks, _merged);
        (_keys, _ranks, _merged, _mask) = Allocate(keys.Length * 2);
        Count = 0;
        for (var i = 0; i < keys.Length; i++)
            if (keys[i] != -1L) Insert(keys[i], ranks[i], merged[i]);
    }

    /// <summary>The rank of merging (a, b), or int.MaxValue when there is no such merge.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int Rank(int a, int b, out int merged)
    {
        var key = Key(a, b);
        var keys = _keys;
        var i = Slot(key, _mask);
        while (true)
        {
            var k = keys[i];
            if (k == key) { merged = _merged[i]; return _ranks[i]; }
            if (k == -1L) { merged = -1; return int.MaxValue; }
            i = (i + 1) & _mask;
        }
    }
}
