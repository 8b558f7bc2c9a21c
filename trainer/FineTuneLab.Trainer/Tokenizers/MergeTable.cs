using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics.X86;

namespace FineTuneLab.Trainer.Tokenizers;

/// <summary>BPE merges as an open-addressing hash map from an id pair to (rank, merged id): one probe sequence over
/// one flat array of 16-byte entries (key, rank and merged id share a cache line, so a probe is one memory access),
/// no allocation on lookup. Sized once for the number of merges (at most half full).</summary>
internal sealed class MergeTable
{
    private struct Entry
    {
        public long Key; // the pair's key + 1; 0: empty, so a fresh (zeroed) array is an empty table
        public int Rank;
        public int Merged;
    }

    private readonly Entry[] _entries;
    private readonly int _mask;

    public MergeTable(int expected)
    {
        var size = 16;
        while (size < expected * 2) size <<= 1;
        _entries = new Entry[size];
        _mask = size - 1;
    }

    /// <summary>Distinct pairs.</summary>
    public int Count { get; private set; }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static long Key(int a, int b) => (((long)a << 32) | (uint)b) + 1;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int Slot(long key, int mask)
    {
        // A full 64-bit mix (splitmix64's finalizer): ids are small and dense, so weak mixing would cluster linear probes.
        var h = (ulong)key;
        h = (h ^ (h >> 30)) * 0xBF58476D1CE4E5B9UL;
        h = (h ^ (h >> 27)) * 0x94D049BB133111EBUL;
        return (int)(h ^ (h >> 31)) & mask;
    }

    /// <summary>Starts fetching the entry where the pair's probe begins (a hint: the table is filled in batches so that
    /// its cache misses overlap).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public unsafe void Prefetch(int a, int b)
    {
        if (Sse.IsSupported) Sse.Prefetch0(Unsafe.AsPointer(ref _entries[Slot(Key(a, b), _mask)]));
    }

    /// <summary>Sets a merge; a pair listed twice keeps the later entry, as HF's HashMap collect does. The table is
    /// sized for the count given to the constructor.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // filled once at load time: no tier-0 start
    public void Set(int a, int b, int rank, int merged)
    {
        var key = Key(a, b);
        var entries = _entries;
        var i = Slot(key, _mask);
        while (true)
        {
            ref var e = ref entries[i];
            if (e.Key == 0)
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
            if (e.Key == 0) { merged = -1; return int.MaxValue; }
            i = (i + 1) & _mask;
        }
    }
}
