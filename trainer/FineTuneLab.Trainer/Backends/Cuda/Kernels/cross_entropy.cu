// Cross-entropy over the vocabulary with ignore-index -100, fused with its backward so the logits buffer is
// overwritten by its gradient in place (the full [tokens, vocab] fp32 logits never need a second buffer).
//
// ce_fused_rows_*: a chunk of rows whose logits span the whole vocabulary (the backend's LM head runs the vocabulary
// whole, a chunk of rows at a time): loss, logsumexp and (optionally) the gradient in one kernel, one block per row.
// Gradient: dlogits[v] = (softmax[v] - (v == target)) * grad_scale; grad_scale is 1 / (number of non-ignored tokens)
// for a mean loss. Ignored rows get zero gradient and zero loss. A target outside [0, vocab) gives a NaN loss.
#include "ftl_common.cuh"

#define FTL_IGNORE_INDEX (-100)

template <typename T>
__device__ void ce_fused_rows_impl(T* logits, float* losses, float* lse_out, const int* targets, int rows, int vocab,
                                   long long row_stride, float grad_scale, int write_grad)
{
    const int row = blockIdx.x;
    if (row >= rows) return;
    T* x = logits + (long long)row * row_stride;
    const int target = targets[row];
    MaxSum acc;
    acc.m = neg_inf();
    acc.s = 0.f;
    for (int v = threadIdx.x; v < vocab; v += blockDim.x) {
        MaxSum one;
        one.m = to_f32(x[v]);
        one.s = 1.f;
        acc = max_sum_merge(acc, one);
    }
    acc = block_max_sum(acc);
    const float lse = acc.m + logf(acc.s);
    const bool ignored = target == FTL_IGNORE_INDEX;
    const bool bad = !ignored && (target < 0 || target >= vocab);
    if (threadIdx.x == 0) {
        losses[row] = ignored ? 0.f : (bad ? quiet_nan() : lse - to_f32(x[target]));
        if (lse_out) lse_out[row] = lse;
    }
    // Every thread has read what it needs of x[target] before anyone overwrites it.
    __syncthreads();
    if (!write_grad) return;
    for (int v = threadIdx.x; v < vocab; v += blockDim.x) {
        const float g = ignored || bad ? 0.f : (expf(to_f32(x[v]) - lse) - (v == target ? 1.f : 0.f)) * grad_scale;
        x[v] = from_f32<T>(g);
    }
}

#define FTL_CROSS_ENTROPY(NAME, T)                                                                                     \
    extern "C" __global__ void ce_fused_rows_##NAME(T* logits, float* losses, float* lse_out, const int* targets,      \
                                                    int rows, int vocab, long long row_stride, float grad_scale,       \
                                                    int write_grad)                                                    \
    { ce_fused_rows_impl<T>(logits, losses, lse_out, targets, rows, vocab, row_stride, grad_scale, write_grad); }

FTL_FOR_FLOAT_TYPES(FTL_CROSS_ENTROPY)
