using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics.X86;

namespace FineTuneLab.Trainer.Tokenizers;

/// <summary>BPE merges as an open-addressing hash map from an id pair to (rank, merged id): one probe sequence over
/// one flat array of 16-byte entries (key, rank and merged id share a cache line, so a probe is one memory access),
/// no allocation on lookup. Sized once for the number of merges (at most half full) and filled by several threads at
/// load time.</summary>
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

    /// <summary>Starts fetching the entry where the pair's probe begins (a hint for batched filling).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public unsafe void Prefetch(int a, int b)
    {
        if (Sse.IsSupported) Sse.Prefetch0(Unsafe.AsPointer(ref _entries[Slot(Key(a, b), _mask)]));
    }

    /// <summary>Adds a merge; safe to call from several threads at once. Returns false when the pair is already in the
    /// table (its entry is left as it is: see <see cref="KeepLaterRank"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public bool TryAddConcurrent(int a, int b, int rank, int merged)
    {
        var key = Key(a, b);
        var entries = _entries;
        var i = Slot(key, _mask);
        while (true)
        {
            ref var e = ref entries[i];
            var current = Volatile.Read(ref e.Key);
            if (current == 0)
            {
                current = Interlocked.CompareExchange(ref e.Key, key, 0);
                if (current == 0)
                {
                    e.Rank = rank;
                    e.Merged = merged;
                    return true;
                }
            }
            if (current == key) return false;
            i = (i + 1) & _mask;
        }
    }

    /// <summary>For a pair listed more than once (after the concurrent fill): the entry takes the highest rank, as a
    /// HashMap collected in rank order keeps the last one.</summary>
    public void KeepLaterRank(int a, int b, int rank, int merged)
    {
        var key = Key(a, b);
        var i = Slot(key, _mask);
        while (_entries[i].Key != key) i = (i + 1) & _mask;
        ref var e = ref _entries[i];
        if (rank > e.Rank) (e.Rank, e.Merged) = (rank, merged);
    }

    public void CompleteConcurrentFill(int distinctPairs) => Count = distinctPairs;

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
