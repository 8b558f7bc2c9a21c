// Cross-entropy over the vocabulary with ignore-index -100, fused with its backward so the logits buffer is
// overwritten by its gradient in place (the full [tokens, vocab] fp32 logits never need a second buffer).
//
// Two ways to use it:
//  * ce_fused_rows_*: a chunk of rows whose logits span the whole vocabulary: loss, logsumexp and (optionally) the
//    gradient in one kernel, one block per row.
//  * vocabulary chunks, for big vocabularies: ce_stats_init once, then ce_chunk_stats_* for each chunk of vocabulary
//    columns [vocab_offset, vocab_offset + chunk_cols) as the LM head produces it (merging a running max and sum of
//    exponentials per row), ce_finalize for loss and logsumexp, then ce_chunk_backward_* on each chunk again.
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

extern "C" __global__ void ce_stats_init(float* run_max, float* run_sum, float* target_logit, int rows)
{
    FTL_GRID_STRIDE(r, (long long)rows) {
        run_max[r] = neg_inf();
        run_sum[r] = 0.f;
        target_logit[r] = 0.f;
    }
}

template <typename T>
__device__ void ce_chunk_stats_impl(const T* logits, float* run_max, float* run_sum, float* target_logit,
                                    const int* targets, int rows, int chunk_cols, long long row_stride, int vocab_offset)
{
    const int row = blockIdx.x;
    if (row >= rows) return;
    const T* x = logits + (long long)row * row_stride;
    MaxSum acc;
    acc.m = neg_inf();
    acc.s = 0.f;
    for (int c = threadIdx.x; c < chunk_cols; c += blockDim.x) {
        MaxSum one;
        one.m = to_f32(x[c]);
        one.s = 1.f;
        acc = max_sum_merge(acc, one);
    }
    acc = block_max_sum(acc);
    if (threadIdx.x == 0) {
        MaxSum prev;
        prev.m = run_max[row];
        prev.s = run_sum[row];
        const MaxSum merged = max_sum_merge(prev, acc);
        run_max[row] = merged.m;
        run_sum[row] = merged.s;
        const int local = targets[row] - vocab_offset;
        if (local >= 0 && local < chunk_cols) target_logit[row] = to_f32(x[local]);
    }
}

extern "C" __global__ void ce_finalize(float* losses, float* lse_out, const float* run_max, const float* run_sum,
                                       const float* target_logit, const int* targets, int rows, int vocab)
{
    FTL_GRID_STRIDE(r, (long long)rows) {
        const float lse = run_max[r] + logf(run_sum[r]);
        const int target = targets[r];
        const bool ignored = target == FTL_IGNORE_INDEX;
        const bool bad = !ignored && (target < 0 || target >= vocab);
        losses[r] = ignored ? 0.f : (bad ? quiet_nan() : lse - target_logit[r]);
        lse_out[r] = lse;
    }
}

template <typename T>
__device__ void ce_chunk_backward_impl(T* logits, const float* lse, const int* targets, int rows, int chunk_cols,
                                       long long row_stride, int vocab_offset, int vocab, float grad_scale)
{
    const long long n = (long long)rows * chunk_cols;
    FTL_GRID_STRIDE(i, n) {
        const int r = (int)(i / chunk_cols);
        const int c = (int)(i % chunk_cols);
        const int target = targets[r];
        const bool skip = target == FTL_IGNORE_INDEX || target < 0 || target >= vocab;
        T* x = logits + (long long)r * row_stride + c;
        const float g = skip ? 0.f : (expf(to_f32(*x) - lse[r]) - (c + vocab_offset == target ? 1.f : 0.f)) * grad_scale;
        *x = from_f32<T>(g);
    }
}

#define FTL_CROSS_ENTROPY(NAME, T)                                                                                     \
    extern "C" __global__ void ce_fused_rows_##NAME(T* logits, float* losses, float* lse_out, const int* targets,      \
                                                    int rows, int vocab, long long row_stride, float grad_scale,       \
                                                    int write_grad)                                                    \
    { ce_fused_rows_impl<T>(logits, losses, lse_out, targets, rows, vocab, row_stride, grad_scale, write_grad); }       \
    extern "C" __global__ void ce_chunk_stats_##NAME(const T* logits, float* run_max, float* run_sum,                  \
                                                     float* target_logit, const int* targets, int rows,                \
                                                     int chunk_cols, long long row_stride, int vocab_offset)           \
    { ce_chunk_stats_impl<T>(logits, run_max, run_sum, target_logit, targets, rows, chunk_cols, row_stride, vocab_offset); } \
    extern "C" __global__ void ce_chunk_backward_##NAME(T* logits, const float* lse, const int* targets, int rows,     \
                                                        int chunk_cols, long long row_stride, int vocab_offset,        \
                                                        int vocab, float grad_scale)                                   \
    { ce_chunk_backward_impl<T>(logits, lse, targets, rows, chunk_cols, row_stride, vocab_offset, vocab, grad_scale); }

FTL_FOR_FLOAT_TYPES(FTL_CROSS_ENTROPY)
