// bitsandbytes NF4 dequantization of a block-quantized weight into fp32 or bf16 (the NF4 GEMM of nf4_gemm.cu
// dequantizes tile by tile instead). Grid-stride.
#include "ftl_common.cuh"

// out[i] = NF4[code(i)] * absmax[i / block_size]; element 2k is the high nibble of packed[k], 2k+1 the low one.
template <typename T>
__device__ void nf4_dequant_impl(T* out, const unsigned char* packed, const float* absmax, long long n, int block_size)
{
    FTL_GRID_STRIDE(i, n) {
        const unsigned char b = packed[i >> 1];
        const int code = (i & 1) == 0 ? b >> 4 : b & 0xF;
        out[i] = from_f32<T>(nf4_value(code) * absmax[i / block_size]);
    }
}

extern "C" __global__ void nf4_dequant_f32(float* out, const unsigned char* packed, const float* absmax, long long n,
                                           int block_size)
{ nf4_dequant_impl<float>(out, packed, absmax, n, block_size); }

extern "C" __global__ void nf4_dequant_bf16(bf16* out, const unsigned char* packed, const float* absmax, long long n,
                                            int block_size)
{ nf4_dequant_impl<bf16>(out, packed, absmax, n, block_size); }
