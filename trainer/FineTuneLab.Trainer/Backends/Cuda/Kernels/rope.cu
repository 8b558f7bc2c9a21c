// Rotary position embedding from the precomputed cos/sin tables (RopeTables.cs: any scaling is folded into them on
// the host), in Hugging Face's rotate_half layout, forward and backward. Grid-stride.
#include "ftl_common.cuh"

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
