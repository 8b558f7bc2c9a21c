// Token (and GPT-2's learned position) embedding: lookup into an fp32 output, optionally accumulated (the positions
// add onto the tokens), and its deterministic gradient. Bad ids are reported through an error flag so the host can
// name the token. Grid-stride.
#include "ftl_common.cuh"

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
