// Runs the trainer's CUDA kernels on the CPU so their arithmetic can be checked against PyTorch on machines without
// a GPU. Force-included (g++ -include) before each kernel file, which is then compiled as ordinary C++20.
//
// Model: blocks run one after another; the threads of a block are real threads, so __syncthreads is a barrier and
// __shared__ variables (made static) are shared by the block. Warp shuffles exchange values through a per-warp slot
// array between two warp barriers, which requires every lane of the warp to take part, exactly as the
// full-mask *_sync intrinsics require on the GPU. This checks the kernels' logic and numerics, not their speed or
// their memory-model subtleties.
#pragma once
#include <atomic>
#include <math.h> // expf, logf, tanhf, sincosf (glibc), ... in the global namespace, as in CUDA
#include <cstring>

struct ftl_dim3 { unsigned int x, y, z; };
extern thread_local ftl_dim3 threadIdx;
extern thread_local ftl_dim3 blockIdx;
extern thread_local ftl_dim3 blockDim;
extern thread_local ftl_dim3 gridDim;

void ftl_emu_syncthreads();
void ftl_emu_warp_exchange(const void* mine, void* out, int src_lane, int bytes);

#define __global__
#define __device__
#define __forceinline__ inline
#define __shared__ static
#define __launch_bounds__(...)
#define FTL_HOST_EMULATION 1

inline void __syncthreads() { ftl_emu_syncthreads(); }

template <typename T> inline T __shfl_sync(unsigned int, T v, int src_lane)
{
    T out;
    ftl_emu_warp_exchange(&v, &out, src_lane & 31, (int)sizeof(T));
    return out;
}
template <typename T> inline T __shfl_xor_sync(unsigned int, T v, int lane_mask)
{
    return __shfl_sync(0xffffffffu, v, (int)((threadIdx.x & 31) ^ (unsigned int)lane_mask));
}

inline float __uint_as_float(unsigned int u) { float f; std::memcpy(&f, &u, 4); return f; }
inline float __int_as_float(int u) { float f; std::memcpy(&f, &u, 4); return f; }
inline unsigned int __float_as_uint(float f) { unsigned int u; std::memcpy(&u, &f, 4); return u; }
inline unsigned int __umulhi(unsigned int a, unsigned int b) { return (unsigned int)(((unsigned long long)a * b) >> 32); }
inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
// Round-to-nearest multiply and add that the compiler may not contract into an FMA (g++ -std=c++20 does not contract).
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fadd_rn(float a, float b) { return a + b; }
inline int min(int a, int b) { return a < b ? a : b; }
inline int max(int a, int b) { return a > b ? a : b; }

inline float atomicAdd(float* address, float value) { return std::atomic_ref<float>(*address).fetch_add(value); }
inline int atomicCAS(int* address, int compare, int value)
{
    std::atomic_ref<int>(*address).compare_exchange_strong(compare, value);
    return compare;
}
