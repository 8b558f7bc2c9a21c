using System.Runtime.CompilerServices;

namespace FineTuneLab.Trainer.Backends;

/// <summary>
/// The dropout keep decision as a pure function of (seed, element index): a SplitMix64 hash turned into a uniform
/// 24-bit fraction. Every backend uses this same function, so CPU and GPU drop the same elements.
/// </summary>
public static class DropoutMask
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool Keep(ulong seed, long index, float p)
    {
        var z = seed + (ulong)index * 0x9E3779B97F4A7C15UL + 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        z ^= z >> 31;
        var u = (z >> 40) * (1.0f / (1 << 24));
        return u >= p;
    }
}
