// Shared device helpers for FineTuneLab's NVRTC-compiled kernels. Handed to NVRTC as an in-memory header
// (nvrtcCreateProgram's headers), so every kernel file compiles with no include path and no CUDA toolkit headers:
// NVRTC 11.x cannot find cuda_bf16.h / cuda_fp16.h on its own, and a GPU node may not have them.
#pragma once

// Storage types: 16-bit floats are carried as raw bits; all arithmetic is done in fp32.
struct bf16 { unsigned short bits; };
struct f16 { unsigned short bits; };

__device__ __forceinline__ float to_f32(float v) { return v; }
__device__ __forceinline__ float to_f32(bf16 v) { return __uint_as_float(((unsigned int)v.bits) << 16); }
#ifdef FTL_HOST_EMULATION // the CPU emulation used by the tests: the host's IEEE half, same rounding as cvt.rn
__device__ __forceinline__ float to_f32(f16 v) { _Float16 h; memcpy(&h, &v.bits, 2); return (float)h; }
#else
__device__ __forceinline__ float to_f32(f16 v)
{
    float f;
    asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(v.bits));
    return f;
}
#endif

template <typename T> __device__ __forceinline__ T from_f32(float v);
template <> __device__ __forceinline__ float from_f32<float>(float v) { return v; }
// Round to nearest even, as PyTorch's float -> bfloat16 cast does; NaN stays a (quiet) NaN.
template <> __device__ __forceinline__ bf16 from_f32<bf16>(float v)
{
    unsigned int u = __float_as_uint(v);
    bf16 r;
    if ((u & 0x7fffffffu) > 0x7f800000u) {
        r.bits = (unsigned short)((u >> 16) | 0x0040u);
        return r;
    }
    u += 0x7fffu + ((u >> 16) & 1u);
    r.bits = (unsigned short)(u >> 16);
    return r;
}
#ifdef FTL_HOST_EMULATION
template <> __device__ __forceinline__ f16 from_f32<f16>(float v) { _Float16 h = (_Float16)v; f16 r; memcpy(&r.bits, &h, 2); return r; }
#else
template <> __device__ __forceinline__ f16 from_f32<f16>(float v)
{
    f16 r;
    asm("cvt.rn.f16.f32 %0, %1;" : "=h"(r.bits) : "f"(v));
    return r;
}
#endif

__device__ __forceinline__ float neg_inf() { return __int_as_float(0xff800000); }
__device__ __forceinline__ float quiet_nan() { return __int_as_float(0x7fc00000); }

#define FTL_FULL_MASK 0xffffffffu

__device__ __forceinline__ float warp_sum(float v)
{
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(FTL_FULL_MASK, v, o);
    return v;
}
__device__ __forceinline__ double warp_sum(double v)
{
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(FTL_FULL_MASK, v, o);
    return v;
}
__device__ __forceinline__ float warp_max(float v)
{
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(FTL_FULL_MASK, v, o));
    return v;
}

// Sum over the whole block, returned to every thread. blockDim.x must be a multiple of 32 (at most 1024).
// The order of additions is fixed, so results are bit-for-bit repeatable. Safe to call several times in a row.
template <typename A> __device__ __forceinline__ A block_sum(A v)
{
    __shared__ A partial[32];
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    v = warp_sum(v);
    __syncthreads();
    if (lane == 0) partial[warp] = v;
    __syncthreads();
    A t = lane < warps ? partial[lane] : (A)0;
    return warp_sum(t);
}

// Running (max, sum of exp(x - max)) pairs, merged without overflow: the online softmax's state.
struct MaxSum { float m; float s; };
__device__ __forceinline__ MaxSum max_sum_merge(MaxSum a, MaxSum b)
{
    const float m = fmaxf(a.m, b.m);
    if (m == neg_inf()) { MaxSum r; r.m = m; r.s = 0.f; return r; }
    MaxSum r;
    r.m = m;
    r.s = a.s * expf(a.m - m) + b.s * expf(b.m - m);
    return r;
}
__device__ __forceinline__ MaxSum block_max_sum(MaxSum v)
{
    __shared__ float pm[32];
    __shared__ float ps[32];
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    for (int o = 16; o > 0; o >>= 1) {
        MaxSum other;
        other.m = __shfl_xor_sync(FTL_FULL_MASK, v.m, o);
        other.s = __shfl_xor_sync(FTL_FULL_MASK, v.s, o);
        v = max_sum_merge(v, other);
    }
    __syncthreads();
    if (lane == 0) { pm[warp] = v.m; ps[warp] = v.s; }
    __syncthreads();
    MaxSum t;
    t.m = lane < warps ? pm[lane] : neg_inf();
    t.s = lane < warps ? ps[lane] : 0.f;
    for (int o = 16; o > 0; o >>= 1) {
        MaxSum other;
        other.m = __shfl_xor_sync(FTL_FULL_MASK, t.m, o);
        other.s = __shfl_xor_sync(FTL_FULL_MASK, t.s, o);
        t = max_sum_merge(t, other);
    }
    return t;
}

#define FTL_FOR_FLOAT_TYPES(X) X(f32, float) X(bf16, bf16) X(f16, f16)

// Grid-stride loop over n elements (64-bit indices: activations of big models exceed 2^31 elements).
#define FTL_GRID_STRIDE(i, n) \
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (long long)gridDim.x * blockDim.x)

// bitsandbytes' NF4 code values. A local table rather than __constant__ memory: the compiler keeps it in registers
// or the constant bank, and the CPU emulation of the kernels (plain C++) compiles it unchanged.
__device__ __forceinline__ float nf4_value(int code)
{
    const float table[16] = {
        -1.0f, -0.6961928009986877f, -0.5250730514526367f, -0.39491748809814453f,
        -0.28444138169288635f, -0.18477343022823334f, -0.09105003625154495f, 0.0f,
        0.07958029955625534f, 0.16093020141124725f, 0.24611230194568634f, 0.33791524171829224f,
        0.44070982933044434f, 0.5626170039176941f, 0.7229568362236023f, 1.0f,
    };
    return table[code];
}
