// Dropout with a counter-based RNG (Philox4x32-10, see ftl_common.cuh). Element i uses word (i % 4) of
// philox(group = i / 4, offset, seed) and is kept when its uniform u >= p; kept elements are scaled by 1 / (1 - p).
// The backward pass is the same call on the gradient with the same (seed, offset): the mask is regenerated, not stored.
// The caller advances `offset` by ceil(n / 4) after each use so that no two uses share random numbers.
#include "ftl_common.cuh"

__device__ __forceinline__ unsigned int philox_word(Philox4 r, int k)
{
    return k == 0 ? r.x : (k == 1 ? r.y : (k == 2 ? r.z : r.w));
}

template <typename T>
__device__ void dropout_impl(T* out, const T* in, long long n, float p, unsigned long long seed, unsigned long long offset)
{
    const long long groups = (n + 3) / 4;
    const float keep_scale = p < 1.f ? 1.f / (1.f - p) : 0.f;
    FTL_GRID_STRIDE(g, groups) {
        const Philox4 r = philox4x32_10((unsigned long long)g, offset, seed);
        for (int k = 0; k < 4; ++k) {
            const long long i = g * 4 + k;
            if (i >= n) break;
            const bool keep = uniform_from_bits(philox_word(r, k)) >= p;
            out[i] = from_f32<T>(keep ? to_f32(in[i]) * keep_scale : 0.f);
        }
    }
}

#define FTL_DROPOUT(NAME, T)                                                                                           \
    extern "C" __global__ void dropout_##NAME(T* out, const T* in, long long n, float p, unsigned long long seed,       \
                                              unsigned long long offset)                                               \
    { dropout_impl<T>(out, in, n, p, seed, offset); }

FTL_FOR_FLOAT_TYPES(FTL_DROPOUT)

// The raw uniforms, so the CPU backend's Philox can be checked against this one bit for bit.
extern "C" __global__ void philox_uniform_f32(float* out, long long n, unsigned long long seed, unsigned long long offset)
{
    const long long groups = (n + 3) / 4;
    FTL_GRID_STRIDE(g, groups) {
        const Philox4 r = philox4x32_10((unsigned long long)g, offset, seed);
        for (int k = 0; k < 4; ++k) {
            const long long i = g * 4 + k;
            if (i >= n) break;
            out[i] = uniform_from_bits(philox_word(r, k));
        }
    }
}
