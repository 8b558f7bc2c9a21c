// LoRA dropout: the keep mask of DropoutMask.cs (SplitMix64 of seed and element index), the same on every backend,
// so the backward regenerates it instead of storing it. Grid-stride.
#include "ftl_common.cuh"

// The keep decision of DropoutMask.Keep (SplitMix64 of seed and element index, 24-bit uniform, kept when u >= p).
__device__ __forceinline__ bool dropout_keep(unsigned long long seed, long long index, float p)
{
    unsigned long long z = seed + (unsigned long long)index * 0x9E3779B97F4A7C15ull + 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    const float u = (float)(z >> 40) * (1.0f / 16777216.0f);
    return u >= p;
}

extern "C" __global__ void dropout_mask_f32(float* y, const float* x, long long n, float p, float keep_scale,
                                            unsigned long long seed)
{
    FTL_GRID_STRIDE(i, n) y[i] = dropout_keep(seed, i, p) ? x[i] * keep_scale : 0.f;
}
