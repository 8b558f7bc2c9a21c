// Rotary position embedding in Hugging Face's rotate_half layout: within the first rotary_dim elements of a head,
// element i pairs with i + rotary_dim/2 (not with i ^ 1 as in the interleaved GPT-J layout); elements past rotary_dim
// pass through. Angles are per-token: theta = positions[token] * inv_freq[i], in fp32 as HF computes them, so packed
// sequences (positions restarting per document) and any rope scaling (folded into inv_freq on the host) just work.
// attention_scaling multiplies cos and sin (1 except for YaRN/LongRoPE-style scaling).
// Layout: x[token * token_stride + head * head_dim + d]; out may alias x.
#include "ftl_common.cuh"

template <typename T>
__device__ void rope_impl(T* out, const T* x, const int* positions, const float* inv_freq, int tokens, int heads,
                          int head_dim, int rotary_dim, long long token_stride, float attention_scaling, float direction)
{
    const int half = rotary_dim >> 1;
    const int per_head = head_dim - half; // pairs (half of them) + pass-through elements
    const long long n = (long long)tokens * heads * per_head;
    FTL_GRID_STRIDE(idx, n) {
        const int j = (int)(idx % per_head);
        const long long th = idx / per_head;
        const int head = (int)(th % heads);
        const int token = (int)(th / heads);
        const long long base = (long long)token * token_stride + (long long)head * head_dim;
        if (j < half) {
            const float theta = (float)positions[token] * inv_freq[j];
            float s, c;
            sincosf(theta, &s, &c);
            c *= attention_scaling;
            s *= attention_scaling * direction; // backward rotates by -theta
            const float a = to_f32(x[base + j]);
            const float b = to_f32(x[base + j + half]);
            out[base + j] = from_f32<T>(a * c - b * s);
            out[base + j + half] = from_f32<T>(b * c + a * s);
        } else {
            const int d = rotary_dim + (j - half);
            if (out != x) out[base + d] = x[base + d];
        }
    }
}

#define FTL_ROPE(NAME, T)                                                                                              \
    extern "C" __global__ void rope_fwd_##NAME(T* out, const T* x, const int* positions, const float* inv_freq,        \
                                               int tokens, int heads, int head_dim, int rotary_dim,                    \
                                               long long token_stride, float attention_scaling)                        \
    { rope_impl<T>(out, x, positions, inv_freq, tokens, heads, head_dim, rotary_dim, token_stride, attention_scaling, 1.f); } \
    extern "C" __global__ void rope_bwd_##NAME(T* dx, const T* dy, const int* positions, const float* inv_freq,        \
                                               int tokens, int heads, int head_dim, int rotary_dim,                    \
                                               long long token_stride, float attention_scaling)                        \
    { rope_impl<T>(dx, dy, positions, inv_freq, tokens, heads, head_dim, rotary_dim, token_stride, attention_scaling, -1.f); }

FTL_FOR_FLOAT_TYPES(FTL_ROPE)
