// RMSNorm and LayerNorm, forward and backward. Forward: one block per row (blockDim.x a multiple of 32, e.g. 256);
// rows are contiguous with `cols` elements. Statistics are computed and saved in fp32.
//
// Backward: any grid; block b takes rows b, b + gridDim.x, ... The weight (and bias) gradients are deterministic:
// no atomics. Block b writes its own partial sums dw_partial[b, cols] (each column owned by one thread of the block,
// summed over the block's rows in row order), and norm_param_grad_reduce adds the gridDim.x partials of each column in
// block order. The same grid gives bit-identical gradients run to run.
#include "ftl_common.cuh"

// y = x * rstd * (w + weight_offset); rstd = 1 / sqrt(mean(x^2) + eps). weight_offset is 0 for Llama/Mistral/Qwen2
// and 1 for models that store (w - 1). w may be null (no affine weight). rstd_out (one per row) may be null.
template <typename T>
__device__ void rmsnorm_fwd_impl(T* out, float* rstd_out, const T* x, const T* w, int rows, int cols, float eps, float weight_offset)
{
    const int row = blockIdx.x;
    if (row >= rows) return;
    const T* xr = x + (long long)row * cols;
    T* yr = out + (long long)row * cols;
    float ss = 0.f;
    for (int c = threadIdx.x; c < cols; c += blockDim.x) {
        const float v = to_f32(xr[c]);
        ss += v * v;
    }
    ss = block_sum(ss);
    const float rstd = rsqrtf(ss / (float)cols + eps);
    for (int c = threadIdx.x; c < cols; c += blockDim.x) {
        const float scale = w ? to_f32(w[c]) + weight_offset : 1.f;
        yr[c] = from_f32<T>(to_f32(xr[c]) * rstd * scale);
    }
    if (rstd_out && threadIdx.x == 0) rstd_out[row] = rstd;
}

// Zeroes this block's partial-sum row; each thread clears (and later owns) the columns it will accumulate.
__device__ __forceinline__ void clear_partials(float* partial, int cols)
{
    if (!partial) return;
    for (int c = threadIdx.x; c < cols; c += blockDim.x) partial[c] = 0.f;
}

// With g = dy * (w + offset): dx = rstd * g - rstd^3 * x * mean(g * x). dx may alias dy; accumulate != 0 adds into dx
// (the residual stream's gradient). dw_partial ([gridDim.x, cols] fp32), when not null, receives this block's
// sum over its rows of dy * x * rstd (see norm_param_grad_reduce).
template <typename T>
__device__ void rmsnorm_bwd_impl(T* dx, float* dw_partial, const T* dy, const T* x, const T* w, const float* rstd_in,
                                 int rows, int cols, float weight_offset, int accumulate)
{
    float* dwp = dw_partial ? dw_partial + (long long)blockIdx.x * cols : 0;
    clear_partials(dwp, cols);
    for (int row = blockIdx.x; row < rows; row += gridDim.x) { // uniform across the block: block_sum's barriers are safe
        const long long base = (long long)row * cols;
        const float rstd = rstd_in[row];
        float dot = 0.f;
        for (int c = threadIdx.x; c < cols; c += blockDim.x) {
            const float g = to_f32(dy[base + c]) * (w ? to_f32(w[c]) + weight_offset : 1.f);
            dot += g * to_f32(x[base + c]);
        }
        dot = block_sum(dot) / (float)cols;
        for (int c = threadIdx.x; c < cols; c += blockDim.x) {
            const float xv = to_f32(x[base + c]);
            const float dyv = to_f32(dy[base + c]);
            const float g = dyv * (w ? to_f32(w[c]) + weight_offset : 1.f);
            float v = rstd * g - rstd * rstd * rstd * xv * dot;
            if (dwp) dwp[c] += dyv * xv * rstd;
            if (accumulate) v += to_f32(dx[base + c]);
            dx[base + c] = from_f32<T>(v);
        }
    }
}

// y = (x - mean) * rstd * w + b, variance biased (as torch.nn.LayerNorm). w and b may be null. mean_out/rstd_out may be null.
template <typename T>
__device__ void layernorm_fwd_impl(T* out, float* mean_out, float* rstd_out, const T* x, const T* w, const T* b,
                                   int rows, int cols, float eps)
{
    const int row = blockIdx.x;
    if (row >= rows) return;
    const T* xr = x + (long long)row * cols;
    T* yr = out + (long long)row * cols;
    float sum = 0.f;
    for (int c = threadIdx.x; c < cols; c += blockDim.x) sum += to_f32(xr[c]);
    const float mean = block_sum(sum) / (float)cols;
    // Second pass over (x - mean): no catastrophic cancellation for rows with a large mean.
    float sq = 0.f;
    for (int c = threadIdx.x; c < cols; c += blockDim.x) {
        const float d = to_f32(xr[c]) - mean;
        sq += d * d;
    }
    const float rstd = rsqrtf(block_sum(sq) / (float)cols + eps);
    for (int c = threadIdx.x; c < cols; c += blockDim.x) {
        float v = (to_f32(xr[c]) - mean) * rstd;
        if (w) v *= to_f32(w[c]);
        if (b) v += to_f32(b[c]);
        yr[c] = from_f32<T>(v);
    }
    if (threadIdx.x == 0) {
        if (mean_out) mean_out[row] = mean;
        if (rstd_out) rstd_out[row] = rstd;
    }
}

// With xhat = (x - mean) * rstd and g = dy * w: dx = rstd * (g - mean(g) - xhat * mean(g * xhat)).
// dw_partial and db_partial ([gridDim.x, cols] fp32, when not null) receive this block's sums of dy * xhat and dy.
// dx may alias dy; accumulate adds into dx.
template <typename T>
__device__ void layernorm_bwd_impl(T* dx, float* dw_partial, float* db_partial, const T* dy, const T* x, const T* w,
                                   const float* mean_in, const float* rstd_in, int rows, int cols, int accumulate)
{
    float* dwp = dw_partial ? dw_partial + (long long)blockIdx.x * cols : 0;
    float* dbp = db_partial ? db_partial + (long long)blockIdx.x * cols : 0;
    clear_partials(dwp, cols);
    clear_partials(dbp, cols);
    for (int row = blockIdx.x; row < rows; row += gridDim.x) {
        const long long base = (long long)row * cols;
        const float mean = mean_in[row], rstd = rstd_in[row];
        float sum_g = 0.f, sum_gx = 0.f;
        for (int c = threadIdx.x; c < cols; c += blockDim.x) {
            const float xhat = (to_f32(x[base + c]) - mean) * rstd;
            const float g = to_f32(dy[base + c]) * (w ? to_f32(w[c]) : 1.f);
            sum_g += g;
            sum_gx += g * xhat;
        }
        const float mean_g = block_sum(sum_g) / (float)cols;
        const float mean_gx = block_sum(sum_gx) / (float)cols;
        for (int c = threadIdx.x; c < cols; c += blockDim.x) {
            const float xhat = (to_f32(x[base + c]) - mean) * rstd;
            const float dyv = to_f32(dy[base + c]);
            const float g = dyv * (w ? to_f32(w[c]) : 1.f);
            float v = rstd * (g - mean_g - xhat * mean_gx);
            if (dwp) dwp[c] += dyv * xhat;
            if (dbp) dbp[c] += dyv;
            if (accumulate) v += to_f32(dx[base + c]);
            dx[base + c] = from_f32<T>(v);
        }
    }
}

// grad[c] += sum over p = 0 .. parts-1 (in that order) of partial[p, c]: the second, fixed-order stage of the norm
// weight/bias gradients. Grid-stride over columns; any grid and block.
extern "C" __global__ void norm_param_grad_reduce(float* grad, const float* partial, int parts, int cols)
{
    for (int c = blockIdx.x * blockDim.x + threadIdx.x; c < cols; c += gridDim.x * blockDim.x) {
        float sum = 0.f;
        for (int p = 0; p < parts; ++p) sum += partial[(long long)p * cols + c];
        grad[c] += sum;
    }
}

#define FTL_NORMS(NAME, T)                                                                                              \
    extern "C" __global__ void rmsnorm_fwd_##NAME(T* out, float* rstd_out, const T* x, const T* w, int rows, int cols,  \
                                                  float eps, float weight_offset)                                       \
    { rmsnorm_fwd_impl<T>(out, rstd_out, x, w, rows, cols, eps, weight_offset); }                                       \
    extern "C" __global__ void rmsnorm_bwd_##NAME(T* dx, float* dw_partial, const T* dy, const T* x, const T* w,                \
                                                  const float* rstd, int rows, int cols, float weight_offset,           \
                                                  int accumulate)                                                       \
    { rmsnorm_bwd_impl<T>(dx, dw_partial, dy, x, w, rstd, rows, cols, weight_offset, accumulate); }                             \
    extern "C" __global__ void layernorm_fwd_##NAME(T* out, float* mean_out, float* rstd_out, const T* x, const T* w,   \
                                                    const T* b, int rows, int cols, float eps)                          \
    { layernorm_fwd_impl<T>(out, mean_out, rstd_out, x, w, b, rows, cols, eps); }                                       \
    extern "C" __global__ void layernorm_bwd_##NAME(T* dx, float* dw_p, float* db_p, const T* dy, const T* x,          \
                                                    const T* w,                                                         \
                                                    const float* mean, const float* rstd, int rows, int cols,           \
                                                    int accumulate)                                                     \
    { layernorm_bwd_impl<T>(dx, dw_p, db_p, dy, x, w, mean, rstd, rows, cols, accumulate); }

FTL_FOR_FLOAT_TYPES(FTL_NORMS)
