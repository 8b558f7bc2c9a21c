namespace FineTuneLab.Trainer.Data;

/// <summary>
/// Seeded permutations that are the same on every machine and .NET version (SplitMix64 + Fisher–Yates; System.Random's
/// sequence is not a documented contract).
/// </summary>
public static class DeterministicShuffle
{
    public static int[] Permutation(int count, ulong seed)
    {
        var p = new int[count];
        for (var i = 0; i < count; i++) p[i] = i;
        var state = seed;
        for (var i = count - 1; i > 0; i--)
        {
            var j = (int)(NextBelow(ref state, (ulong)i + 1));
            (p[i], p[j]) = (p[j], p[i]);
        }
        return p;
    }

    private static ulong Next(ref ulong state)
    {
        var z = state += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>Uniform in [0, bound) without modulo bias (rejection sampling).</summary>
    private static ulong NextBelow(ref ulong state, ulong bound)
    {
        var limit = ulong.MaxValue - ulong.MaxValue % bound;
        while (true)
        {
            var r = Next(ref state);
            if (r < limit) return r % bound;
        }
    }

    /// <summary>The seed for one epoch, so every epoch has its own order and a resumed run replays the same ones.</summary>
    public static ulong EpochSeed(ulong seed, int epoch)
    {
        var s = seed ^ ((ulong)epoch * 0xD1B54A32D192ED03UL);
        return Next(ref s);
    }
}
