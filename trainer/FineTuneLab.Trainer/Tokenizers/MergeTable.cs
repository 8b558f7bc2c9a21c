using System.Runtime.CompilerServices;

namespace FineTuneLab.Trainer.Tokenizers;

/// <summary>BPE merges as an open-addressing hash map from an id pair to (rank, merged id): one probe sequence over
/// one flat array of 16-byte entries (key, rank and merged id share a cache line, so a probe is one memory access —
/// filling half a million merges at load time is bound by those accesses), no allocation on lookup; kept at most
/// half full.</summary>
internal sealed class MergeTable
{
    private struct Entry
    {
        public long Key;
        public int Rank;
        public int Merged;
    }

    private const long Empty = -1L;

    private Entry[] _entries;
    private int _mask;

    public MergeTable(int expected)
    {
        var size = 16;
        while (size < expected * 2) size <<= 1;
        (_entries, _mask) = Allocate(size);
    }

    private static (Entry[], int) Allocate(int size)
    {
        var entries = GC.AllocateUninitializedArray<Entry>(size);
        entries.AsSpan().Fill(new Entry { Key = Empty });
        return (entries, size - 1);
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
        if ((Count + 1) * 2 > _entries.Length) Grow();
        Insert(Key(a, b), rank, merged);
    }

    private void Insert(long key, int rank, int merged)
    {
        var entries = _entries;
        var i = Slot(key, _mask);
        while (true)
        {
            ref var e = ref entries[i];
            if (e.Key == Empty)
            {
                e.Key = key;
                Count++;
            }
            else if (e.Key != key)
            {
                i = (i + 1) & _mask;
                continue;
            }
            e.Rank = rank;
            e.Merged = merged;
            return;
        }
    }

    private void Grow()
    {
        var old = _entries;
        (_entries, _mask) = Allocate(old.Length * 2);
        Count = 0;
        foreach (var e in old)
            if (e.Key != Empty) Insert(e.Key, e.Rank, e.Merged);
    }

    /// <summary>The rank of merging (a, b), or int.MaxValue when there is no such merge.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int Rank(int a, int b, out int merged)
    {
        var key = Key(a, b);
        var entries = _entries;
        var i = Slot(key, _mask);
        while (true)
        {
            ref readonly var e = ref entries[i];
            if (e.Key == key) { merged = e.Merged; return e.Rank; }
            if (e.Key == Empty) { merged = -1; return int.MaxValue; }
            i = (i + 1) & _mask;
        }
    }
}
