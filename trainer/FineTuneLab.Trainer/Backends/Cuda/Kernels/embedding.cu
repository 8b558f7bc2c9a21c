// Token embedding lookup, plus an optional learned position embedding (GPT-2's wpe) added in fp32.
// out[t, :] = table[ids[t], :] (+ pos_table[positions[t], :]). A token id outside [0, vocab) writes zeros and records
// the first offending token index + 1 in *error_flag (when not null) so the host can name the bad token.
#include "ftl_common.cuh"

template <typename T>
__device__ void embedding_fwd_impl(T* out, const T* table, const int* ids, const T* pos_table, const int* positions,
                                   int tokens, int dim, int vocab, int* error_flag)
{
    const long long n = (long long)tokens * dim;
    FTL_GRID_STRIDE(i, n) {
        const int t = (int)(i / dim);
        const int d = (int)(i % dim);
        const int id = ids[t];
        if (id < 0 || id >= vocab) {
            if (error_flag && d == 0) atomicCAS(error_flag, 0, t + 1);
            out[i] = from_f32<T>(0.f);
            continue;
        }
        float v = to_f32(table[(long long)id * dim + d]);
        if (pos_table) v += to_f32(pos_table[(long long)positions[t] * dim + d]);
        out[i] = from_f32<T>(v);
    }
}

#define FTL_EMBEDDING(NAME, T)                                                                                         \
    extern "C" __global__ void embedding_fwd_##NAME(T* out, const T* table, const int* ids, const T* pos_table,        \
                                                    const int* positions, int tokens, int dim, int vocab,              \
                                                    int* error_flag)                                                   \
    { embedding_fwd_impl<T>(out, table, ids, pos_table, positions, tokens, dim, vocab, error_flag); }

FTL_FOR_FLOAT_TYPES(FTL_EMBEDDING)
