// The small kernels the CUDA backend needs beyond the model kernels in the other files, each written to give the CPU
// backend's results for the IBackend method it serves: fill, scale, axpy, bias add and its gradient, embedding
// lookup into an fp32 output (with accumulate) and its deterministic gradient, rotary embedding from precomputed
// cos/sin tables, dropout with the shared SplitMix64 keep mask (DropoutMask.cs), and bitsandbytes NF4 dequantization.
// All grid-stride: any grid size is correct, the backend picks one from the element count.
#include "ftl_common.cuh"

extern "C" __global__ void fill_f32(float* x, long long n, float value)
{
    FTL_GRID_STRIDE(i, n) x[i] = value;
}

extern "C" __global__ void scale_f32(float* y, const float* x, long long n, float alpha)
{
    FTL_GRID_STRIDE(i, n) y[i] = alpha * x[i];
}

extern "C" __global__ void axpy_f32(float* y, const float* x, long long n, float alpha)
{
    FTL_GRID_STRIDE(i, n) y[i] += alpha * x[i];
}

// y[r, c] += bias[c] for y [rows, cols].
extern "C" __global__ void add_bias_f32(float* y, const float* bias, long long rows, int cols)
{
    FTL_GRID_STRIDE(i, rows * cols) y[i] += bias[i % cols];
}

// dbias[c] += sum over r of dy[r, c]: one thread per column summing rows in order, so the result is deterministic
// (no atomics) and adjacent threads read adjacent addresses.
extern "C" __global__ void bias_grad_f32(float* dbias, const float* dy, long long rows, int cols)
{
    FTL_GRID_STRIDE(c, (long long)cols) {
        float acc = 0.f;
        for (long long r = 0; r < rows; ++r) acc += dy[r * cols + c];
        dbias[c] += acc;
    }
}

// out[t, :] (=|+=) table[ids[t], :] widened to fp32. An id outside [0, vocab) writes (or adds) nothing and records the
// first offending token index + 1 in *error_flag so the host can name the bad token.
template <typename T>
__device__ void embed_lookup_impl(float* out, const T* table, const int* ids, int tokens, int dim, int vocab,
                                  int accumulate, int* error_flag)
{
    const long long n = (long long)tokens * dim;
    FTL_GRID_STRIDE(i, n) {
        const int t = (int)(i / dim), d = (int)(i % dim);
        const int id = ids[t];
        if (id < 0 || id >= vocab) {
            if (d == 0) atomicCAS(error_flag, 0, t + 1);
            continue;
        }
        const float v = to_f32(table[(long long)id * dim + d]);
        out[i] = accumulate ? out[i] + v : v;
    }
}

#define FTL_EMBED_LOOKUP(NAME, T)                                                                                      \
    extern "C" __global__ void embed_lookup_##NAME(float* out, const T* table, const int* ids, int tokens, int dim,    \
                                                   int vocab, int accumulate, int* error_flag)                         \
    { embed_lookup_impl<T>(out, table, ids, tokens, dim, vocab, accumulate, error_flag); }

FTL_FOR_FLOAT_TYPES(FTL_EMBED_LOOKUP)

// dtable[ids[t], d] += dout[t, d] in token order: one thread per column d walks the tokens, so repeated ids add in
// the same order as the CPU backend (deterministic, no atomics). Out-of-range ids are skipped and flagged.
extern "C" __global__ void embed_backward_f32(float* dtable, const float* dout, const int* ids, int tokens, int dim,
                                              int vocab, int* error_flag)
{
    FTL_GRID_STRIDE(d, (long long)dim) {
        for (int t = 0; t < tokens; ++t) {
            const int id = ids[t];
            if (id < 0 || id >= vocab) {
                if (d == 0) atomicCAS(error_flag, 0, t + 1);
                continue;
            }
            dtable[(long long)id * dim + d] += dout[(long long)t * dim + d];
        }
    }
}

// Hugging Face rotate_half rotary embedding from tables cos/sin [max_pos, dim], x and y [tokens, heads, dim] (y may
// alias x: each thread reads its pair before writing it). inverse != 0 is the backward (rotation by -theta), written
// exactly as CpuRope does it. A position outside [0, max_pos) leaves its pair untouched and is flagged.
extern "C" __global__ void rope_table_f32(float* y, const float* x, const int* positions, const float* cos_table,
                                          const float* sin_table, int tokens, int heads, int dim, int max_pos,
                                          int inverse, int* error_flag)
{
    const int half = dim >> 1;
    const long long n = (long long)tokens * heads * half;
    FTL_GRID_STRIDE(idx, n) {
        const int i = (int)(idx % half);
        const long long th = idx / half;
        const int t = (int)(th / heads);
        const int p = positions[t];
        if (p < 0 || p >= max_pos) {
            if (i == 0) atomicCAS(error_flag, 0, t + 1);
            continue;
        }
        const float* c = cos_table + (long long)p * dim;
        const float* s = sin_table + (long long)p * dim;
        const long long base = th * dim;
        const float x1 = x[base + i], x2 = x[base + i + half];
        if (!inverse) {
            y[base + i] = x1 * c[i] - x2 * s[i];
            y[base + i + half] = x2 * c[i + half] + x1 * s[i + half];
        } else {
            y[base + i] = x1 * c[i] + x2 * s[i + half];
            y[base + i + half] = x2 * c[i + half] - x1 * s[i];
        }
    }
}

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

// out[i] = NF4[code(i)] * absmax[i / block_size]; element 2k is the high nibble of packed[k], 2k+1 the low one.
template <typename T>
__device__ void nf4_dequant_impl(T* out, const unsigned char* packed, const float* absmax, long long n, int block_size)
{
    FTL_GRID_STRIDE(i, n) {
        const unsigned char b = packed[i >> 1];
        const int code = (i & 1) == 0 ? b >> 4 : b & 0xF;
        out[i] = from_f32<T>(nf4_value(code) * absmax[i / block_size]);
    }
}

extern "C" __global__ void nf4_dequant_f32(float* out, const unsigned char* packed, const float* absmax, long long n,
                                           int block_size)
{ nf4_dequant_impl<float>(out, packed, absmax, n, block_size); }

extern "C" __global__ void nf4_dequant_bf16(bf16* out, const unsigned char* packed, const float* absmax, long long n,
                                            int block_size)
{ nf4_dequant_impl<bf16>(out, packed, absmax, n, block_size); }
