// Element-wise MLP activations and the residual add. n is the element count; grid-stride loops, any grid.
#include "ftl_common.cuh"

__device__ __forceinline__ float sigmoidf_(float x) { return 1.f / (1.f + expf(-x)); }

// SwiGLU (Llama/Mistral/Qwen2 MLP): out = silu(gate) * up, silu(g) = g * sigmoid(g).
template <typename T>
__device__ void swiglu_fwd_impl(T* out, const T* gate, const T* up, long long n)
{
    FTL_GRID_STRIDE(i, n) {
        const float g = to_f32(gate[i]);
        out[i] = from_f32<T>(g * sigmoidf_(g) * to_f32(up[i]));
    }
}

// dgate = dout * up * silu'(g), silu'(g) = s * (1 + g * (1 - s)); dup = dout * silu(g).
// dgate may alias gate and dup may alias up (each element is read before it is written).
template <typename T>
__device__ void swiglu_bwd_impl(T* dgate, T* dup, const T* dout, const T* gate, const T* up, long long n)
{
    FTL_GRID_STRIDE(i, n) {
        const float g = to_f32(gate[i]), u = to_f32(up[i]), d = to_f32(dout[i]);
        const float s = sigmoidf_(g);
        const float dsilu = s * (1.f + g * (1.f - s));
        dgate[i] = from_f32<T>(d * u * dsilu);
        dup[i] = from_f32<T>(d * g * s);
    }
}

// GELU, tanh approximation (GPT-2's "gelu_new" / torch approximate="tanh"):
// y = 0.5 x (1 + tanh(k0 (x + k1 x^3))), k0 = sqrt(2/pi), k1 = 0.044715.
#define FTL_GELU_K0 0.7978845608028654f
#define FTL_GELU_K1 0.044715f

template <typename T>
__device__ void gelu_tanh_fwd_impl(T* out, const T* x, long long n)
{
    FTL_GRID_STRIDE(i, n) {
        const float v = to_f32(x[i]);
        const float t = tanhf(FTL_GELU_K0 * (v + FTL_GELU_K1 * v * v * v));
        out[i] = from_f32<T>(0.5f * v * (1.f + t));
    }
}

// dx = dy * (0.5 (1 + t) + 0.5 x (1 - t^2) k0 (1 + 3 k1 x^2)). dx may alias dy.
template <typename T>
__device__ void gelu_tanh_bwd_impl(T* dx, const T* dy, const T* x, long long n)
{
    FTL_GRID_STRIDE(i, n) {
        const float v = to_f32(x[i]);
        const float t = tanhf(FTL_GELU_K0 * (v + FTL_GELU_K1 * v * v * v));
        const float grad = 0.5f * (1.f + t) + 0.5f * v * (1.f - t * t) * FTL_GELU_K0 * (1.f + 3.f * FTL_GELU_K1 * v * v);
        dx[i] = from_f32<T>(to_f32(dy[i]) * grad);
    }
}

// GeGLU (Gemma's MLP): out = gelu_tanh(gate) * up. The tanh form through the logistic, as the CPU backend:
// 0.5 (1 + tanh z) = s = sigmoid(2z) and 1 - tanh^2 z = 4 s (1 - s), which does not cancel for negative gates.
__device__ __forceinline__ float geglu_sigmoid_(float g)
{
    return sigmoidf_(2.f * FTL_GELU_K0 * (g + FTL_GELU_K1 * g * g * g));
}

template <typename T>
__device__ void geglu_fwd_impl(T* out, const T* gate, const T* up, long long n)
{
    FTL_GRID_STRIDE(i, n) {
        const float g = to_f32(gate[i]);
        out[i] = from_f32<T>(g * geglu_sigmoid_(g) * to_f32(up[i]));
    }
}

// dgate = dout * up * gelu'(g), gelu'(g) = s + 2 g s (1 - s) k0 (1 + 3 k1 g^2); dup = dout * g * s.
// dgate may alias gate and dup may alias up (each element is read before it is written).
template <typename T>
__device__ void geglu_bwd_impl(T* dgate, T* dup, const T* dout, const T* gate, const T* up, long long n)
{
    FTL_GRID_STRIDE(i, n) {
        const float g = to_f32(gate[i]), u = to_f32(up[i]), d = to_f32(dout[i]);
        const float s = geglu_sigmoid_(g);
        const float dgelu = s + 2.f * g * s * (1.f - s) * FTL_GELU_K0 * (1.f + 3.f * FTL_GELU_K1 * g * g);
        dgate[i] = from_f32<T>(d * u * dgelu);
        dup[i] = from_f32<T>(d * g * s);
    }
}

// out = a + b (out may alias a or b).
template <typename T>
__device__ void residual_add_impl(T* out, const T* a, const T* b, long long n)
{
    FTL_GRID_STRIDE(i, n) out[i] = from_f32<T>(to_f32(a[i]) + to_f32(b[i]));
}

#define FTL_ACTIVATIONS(NAME, T)                                                                                       \
    extern "C" __global__ void swiglu_fwd_##NAME(T* out, const T* gate, const T* up, long long n)                      \
    { swiglu_fwd_impl<T>(out, gate, up, n); }                                                                          \
    extern "C" __global__ void swiglu_bwd_##NAME(T* dgate, T* dup, const T* dout, const T* gate, const T* up,         \
                                                 long long n)                                                          \
    { swiglu_bwd_impl<T>(dgate, dup, dout, gate, up, n); }                                                             \
    extern "C" __global__ void geglu_fwd_##NAME(T* out, const T* gate, const T* up, long long n)                       \
    { geglu_fwd_impl<T>(out, gate, up, n); }                                                                           \
    extern "C" __global__ void geglu_bwd_##NAME(T* dgate, T* dup, const T* dout, const T* gate, const T* up,          \
                                                long long n)                                                           \
    { geglu_bwd_impl<T>(dgate, dup, dout, gate, up, n); }                                                              \
    extern "C" __global__ void gelu_tanh_fwd_##NAME(T* out, const T* x, long long n) { gelu_tanh_fwd_impl<T>(out, x, n); } \
    extern "C" __global__ void gelu_tanh_bwd_##NAME(T* dx, const T* dy, const T* x, long long n)                       \
    { gelu_tanh_bwd_impl<T>(dx, dy, x, n); }                                                                           \
    extern "C" __global__ void residual_add_##NAME(T* out, const T* a, const T* b, long long n)                         \
    { residual_add_impl<T>(out, a, b, n); }

FTL_FOR_FLOAT_TYPES(FTL_ACTIVATIONS)
