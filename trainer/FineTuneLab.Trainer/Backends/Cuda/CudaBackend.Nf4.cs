using FineTuneLab.Trainer.Tensors;

namespace FineTuneLab.Trainer.Backends.Cuda;

public sealed partial class CudaBackend
{
    /// <summary>
    /// QLoRA's frozen-weight GEMM: nf4_gemm.cu dequantizes op(W) 16 × 64 elements at a time into shared memory (the
    /// double-quantized absmax resolved per element, bit-identical to the CPU's dequantization) and accumulates in fp32,
    /// so the full-precision weight never exists on the device. A may be F32 or BF16.
    /// </summary>
    public void GemmNf4(Tensor a, Nf4Matrix b, bool transB, Tensor c, float alpha = 1f, float beta = 0f)
    {
        CudaCheck.Device(a, "NF4 GEMM A");
        if (a.DType is not (DType.F32 or DType.BF16)) throw new ArgumentException($"NF4 GEMM A must be F32 or BF16, got {a.DType} {a.Shape}");
        CudaCheck.F32(c, "NF4 GEMM C");
        CudaCheck.Of(b.Packed, DType.U8, "NF4 packed weights");
        CudaCheck.Of(b.AbsmaxCodes, DType.U8, "NF4 absmax codes");
        CudaCheck.F32(b.NestedAbsmax, "NF4 nested absmax");
        CudaCheck.F32(b.QuantMap, "NF4 quant map");
        CudaCheck.F32(b.Offset, "NF4 absmax offset");
        if (b.QuantMap.Count != 256) throw new ArgumentException($"NF4 quant map must have 256 entries, got {b.QuantMap.Count}");
        if (b.BlockSize <= 0 || b.NestedBlockSize <= 0)
            throw new ArgumentOutOfRangeException(nameof(b), $"NF4 block sizes must be positive (block {b.BlockSize}, nested {b.NestedBlockSize})");
        var end = b.ElementOffset + (long)b.Rows * b.Cols;
        if (b.Packed.Count * 2 < end) throw new ArgumentException($"NF4 packed storage holds {b.Packed.Count * 2} codes, the matrix reaches {end}");
        var blocks = (end + b.BlockSize - 1) / b.BlockSize;
        if (b.AbsmaxCodes.Count < blocks) throw new ArgumentException($"NF4 absmax codes ({b.AbsmaxCodes.Count}) do not cover the matrix ({blocks} blocks)");
        if (b.NestedAbsmax.Count < (blocks + b.NestedBlockSize - 1) / b.NestedBlockSize)
            throw new ArgumentException($"NF4 nested absmax ({b.NestedAbsmax.Count}) does not cover {blocks} blocks of {b.NestedBlockSize}");
        var a2 = a.As2D();
        int m = a2.Dim(0), k = a2.Dim(1);
        int kb = transB ? b.Cols : b.Rows, n = transB ? b.Rows : b.Cols;
        if (kb != k) throw new ArgumentException($"NF4 GEMM inner dimensions differ: A {a.Shape}, W [{b.Rows}, {b.Cols}] transB={transB}");
        if (c.Count != (long)m * n || c.Shape.Last != n) throw new ArgumentException($"NF4 GEMM C is {c.Shape}, expected [{m}, {n}]");
        if (m == 0 || n == 0) return;
        if ((m + CudaLaunches.Nf4GemmTile - 1) / CudaLaunches.Nf4GemmTile > 65535)
            throw new ArgumentException($"NF4 GEMM A has {m} rows; the kernel's grid covers at most {65535 * CudaLaunches.Nf4GemmTile}");
        Launch(CudaLaunches.Nf4Gemm(a2, b, transB, c, m, n, k, alpha, beta));
    }
}
