// Element type conversion between fp32, bf16 and fp16 (round to nearest even). out must not overlap in.
#include "ftl_common.cuh"

template <typename TI, typename TO>
__device__ void convert_impl(TO* out, const TI* in, long long n)
{
    FTL_GRID_STRIDE(i, n) out[i] = from_f32<TO>(to_f32(in[i]));
}

#define FTL_CONVERT(FROM, TI, TO_NAME, TO)                                                                             \
    extern "C" __global__ void convert_##FROM##_to_##TO_NAME(TO* out, const TI* in, long long n) { convert_impl<TI, TO>(out, in, n); }

FTL_CONVERT(f32, float, bf16, bf16)
FTL_CONVERT(f32, float, f16, f16)
FTL_CONVERT(bf16, bf16, f32, float)
FTL_CONVERT(f16, f16, f32, float)
FTL_CONVERT(bf16, bf16, f16, f16)
FTL_CONVERT(f16, f16, bf16, bf16)
