// QLoRA's frozen-weight GEMM with the weight in bitsandbytes' NF4 layout, dequantized tile by tile in shared memory
// (the full-precision weight never exists in device memory):
//   C[M, N] = alpha * A[M, K] . op(W) + beta * C      op(W) = W^T when trans_b (a linear layer's forward x W^T,
//                                                      W [N, K]), else W (its input gradient dy W, W [K, N]).
// W [w_rows, w_cols] starts at element `elem_offset` of the quantized storage (a row slice of a fused projection).
// Element e: NF4[code(e)] * absmax(e / block_size), code(e) the high nibble of packed[e / 2] for even e, the low one
// for odd e; absmax(blk) = quant_map[absmax_codes[blk]] * nested_absmax[blk / nested_block] + offset (double
// quantization), rounded as the CPU backend computes it (separate multiply and add, no fused multiply-add), so each
// dequantized weight is bit-identical to the CPU's. A is fp32 or bf16; products accumulate in fp32; C is fp32.
//
// Tiling: a 64 x 64 tile of C per block of 256 threads, each thread 4 x 4 outputs (rows ty + 16 i, columns
// tx + 16 j); K in steps of 16: A's [64, 16] tile and op(W)'s [16, 64] tile (dequantized while loading) in shared
// memory. grid: (ceil(N / 64), ceil(M / 64)), block: 256.
#include "ftl_common.cuh"

#define NF4G_BM 64
#define NF4G_BN 64
#define NF4G_BK 16
#define NF4G_THREADS 256

template <typename T>
__device__ void nf4_gemm_impl(float* c, const T* a, const unsigned char* packed, const unsigned char* absmax_codes,
                              const float* nested_absmax, const float* quant_map, const float* offset_ptr,
                              long long elem_offset, int w_cols, int block_size, int nested_block, int m, int n, int k,
                              int trans_b, float alpha, float beta)
{
    __shared__ float As[NF4G_BK][NF4G_BM + 1];
    __shared__ float Bs[NF4G_BK][NF4G_BN + 1];
    __shared__ float table[16];
    __shared__ float qmap[256];
    const int tid = threadIdx.x, tx = tid % 16, ty = tid / 16;
    const int m0 = blockIdx.y * NF4G_BM, n0 = blockIdx.x * NF4G_BN;
    if (tid < 16) table[tid] = nf4_value(tid);
    for (int i = tid; i < 256; i += blockDim.x) qmap[i] = quant_map[i];
    const float offset = offset_ptr[0];

    float acc[4][4];
    for (int i = 0; i < 4; ++i)
        for (int j = 0; j < 4; ++j) acc[i][j] = 0.f;

    for (int k0 = 0; k0 < k; k0 += NF4G_BK) {
        __syncthreads(); // the previous tiles are consumed (and the tables are loaded on the first pass)
        for (int idx = tid; idx < NF4G_BM * NF4G_BK; idx += blockDim.x) {
            const int r = idx / NF4G_BK, kk = idx % NF4G_BK; // consecutive threads read consecutive k of a row of A
            const int gm = m0 + r, gk = k0 + kk;
            As[kk][r] = gm < m && gk < k ? to_f32(a[(long long)gm * k + gk]) : 0.f;
        }
        for (int idx = tid; idx < NF4G_BK * NF4G_BN; idx += blockDim.x) {
            // Walk the storage order: along k for W^T (W's rows are op(W)'s columns), along n otherwise.
            const int cc = trans_b ? idx / NF4G_BK : idx % NF4G_BN;
            const int kk = trans_b ? idx % NF4G_BK : idx / NF4G_BN;
            const int gn = n0 + cc, gk = k0 + kk;
            float value = 0.f;
            if (gn < n && gk < k) {
                const long long e = elem_offset + (trans_b ? (long long)gn * w_cols + gk : (long long)gk * w_cols + gn);
                const long long blk = e / block_size;
                const float absmax = __fadd_rn(__fmul_rn(qmap[absmax_codes[blk]], nested_absmax[blk / nested_block]), offset);
                const unsigned char byte = packed[e >> 1];
                value = __fmul_rn(table[(e & 1) == 0 ? byte >> 4 : byte & 0xF], absmax);
            }
            Bs[kk][cc] = value;
        }
        __syncthreads();
        for (int kk = 0; kk < NF4G_BK; ++kk) {
            float av[4], bv[4];
            for (int i = 0; i < 4; ++i) av[i] = As[kk][ty + 16 * i];
            for (int j = 0; j < 4; ++j) bv[j] = Bs[kk][tx + 16 * j];
            for (int i = 0; i < 4; ++i)
                for (int j = 0; j < 4; ++j) acc[i][j] = fmaf(av[i], bv[j], acc[i][j]);
        }
    }
    for (int i = 0; i < 4; ++i) {
        const int gm = m0 + ty + 16 * i;
        if (gm >= m) continue;
        for (int j = 0; j < 4; ++j) {
            const int gn = n0 + tx + 16 * j;
            if (gn >= n) continue;
            float* out = c + (long long)gm * n + gn;
            *out = beta == 0.f ? alpha * acc[i][j] : fmaf(beta, *out, alpha * acc[i][j]); // beta = 0 never reads C
        }
    }
}

#define FTL_NF4_GEMM(NAME, T)                                                                                          \
    extern "C" __global__ void __launch_bounds__(NF4G_THREADS) nf4_gemm_##NAME(                                        \
        float* c, const T* a, const unsigned char* packed, const unsigned char* absmax_codes,                          \
        const float* nested_absmax, const float* quant_map, const float* offset, long long elem_offset, int w_cols,    \
        int block_size, int nested_block, int m, int n, int k, int trans_b, float alpha, float beta)                   \
    {                                                                                                                  \
        nf4_gemm_impl<T>(c, a, packed, absmax_codes, nested_absmax, quant_map, offset, elem_offset, w_cols,            \
                         block_size, nested_block, m, n, k, trans_b, alpha, beta);                                     \
    }

FTL_NF4_GEMM(f32, float)
FTL_NF4_GEMM(bf16, bf16)
