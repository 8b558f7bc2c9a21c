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
        var a2 = a.As2D();
        int m = a2.Dim(0), k = a2.Dim(1);
        int n = transB ? b.Rows : b.Cols;
        if (m == 0 || n == 0) return;
        if ((m + CudaLaunches.Nf4GemmTile - 1) / CudaLaunches.Nf4GemmTile > 65535)
            throw new ArgumentException($"NF4 GEMM A has {m} rows; the kernel's grid covers at most {65535 * CudaLaunches.Nf4GemmTile}");
        Launch(CudaLaunches.Nf4Gemm(a2, b, transB, c, m, n, k, alpha, beta));
    }
}
