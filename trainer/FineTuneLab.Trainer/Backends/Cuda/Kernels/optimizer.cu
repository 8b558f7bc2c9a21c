// AdamW (decoupled weight decay, as torch.optim.AdamW) and the partial sums of squares of the global gradient norm.
#include "ftl_common.cuh"

// p <- p - lr * wd * p; m <- b1 m + (1 - b1) g; v <- b2 v + (1 - b2) g^2;
// p <- p - lr * (m / bc1) / (sqrt(v / bc2) + eps), with bc1 = 1 - b1^t and bc2 = 1 - b2^t computed on the host in
// double. g is the gradient times *grad_scale when grad_scale is not null (the clip factor, read on the device so
// clipping needs no host round trip). Parameters and moments are fp32 (LoRA weights are trained in fp32).
template <typename TG>
__device__ void adamw_impl(float* params, const TG* grads, float* m, float* v, long long n, float lr, float beta1,
                           float beta2, float eps, float weight_decay, float bias_correction1, float bias_correction2,
                           const float* grad_scale)
{
    const float scale = grad_scale ? *grad_scale : 1.f;
    const float inv_bc1 = 1.f / bias_correction1;
    const float inv_sqrt_bc2 = rsqrtf(bias_correction2);
    FTL_GRID_STRIDE(i, n) {
        const float g = to_f32(grads[i]) * scale;
        float p = params[i];
        p -= lr * weight_decay * p;
        const float mi = beta1 * m[i] + (1.f - beta1) * g;
        const float vi = beta2 * v[i] + (1.f - beta2) * g * g;
        m[i] = mi;
        v[i] = vi;
        p -= lr * (mi * inv_bc1) / (sqrtf(vi) * inv_sqrt_bc2 + eps);
        params[i] = p;
    }
}

#define FTL_ADAMW(NAME, T)                                                                                             \
    extern "C" __global__ void adamw_##NAME(float* params, const T* grads, float* m, float* v, long long n, float lr,   \
                                            float beta1, float beta2, float eps, float weight_decay,                   \
                                            float bias_correction1, float bias_correction2, const float* grad_scale)   \
    { adamw_impl<T>(params, grads, m, v, n, lr, beta1, beta2, eps, weight_decay, bias_correction1, bias_correction2, grad_scale); }

FTL_FOR_FLOAT_TYPES(FTL_ADAMW)

// Sum of squares of one gradient tensor, one partial per block, written to partials[partial_offset + blockIdx.x].
// The backend sums the partials on the host in a fixed order, so the norm is the same bit for bit on every run.
template <typename T>
__device__ void sumsq_partials_impl(float* partials, int partial_offset, const T* x, long long n)
{
    float acc = 0.f;
    FTL_GRID_STRIDE(i, n) {
        const float v = to_f32(x[i]);
        acc += v * v;
    }
    acc = block_sum(acc);
    if (threadIdx.x == 0) partials[partial_offset + blockIdx.x] = acc;
}

#define FTL_SUMSQ(NAME, T)                                                                                             \
    extern "C" __global__ void sumsq_partials_##NAME(float* partials, int partial_offset, const T* x, long long n)     \
    { sumsq_partials_impl<T>(partials, partial_offset, x, n); }

FTL_FOR_FLOAT_TYPES(FTL_SUMSQ)
