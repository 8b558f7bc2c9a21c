using FineTuneLab.Trainer.Backends.Cuda;

namespace FineTuneLab.Trainer.Tests.Cuda;

/// <summary>
/// The row-major → column-major GEMM mapping the CUDA backend hands cublasGemmEx, run through a naive implementation of
/// cuBLAS's documented column-major semantics (C[i + j·ldc] = Σp op(first)[i, p] · op(second)[p, j]) and compared with
/// the row-major product the interface promises, for all four transpose combinations and non-square shapes.
/// </summary>
public sealed class CublasGemmMappingTests
{
    /// <summary>Element (i, j) of op(X) where X is column-major with leading dimension ld.</summary>
    private static double Op(float[] x, bool trans, int ld, int i, int j) => trans ? x[j + i * ld] : x[i + j * ld];

    private static float[] ColumnMajorGemm(CublasGemmShape g, float[] first, float[] second, float alpha, float beta, float[] c)
    {
        var result = (float[])c.Clone();
        for (var i = 0; i < g.M; i++)
            for (var j = 0; j < g.N; j++)
            {
                double acc = 0;
                for (var p = 0; p < g.K; p++)
                    acc += Op(first, g.TransFirst, g.LdFirst, i, p) * Op(second, g.TransSecond, g.LdSecond, p, j);
                result[i + j * g.LdC] = (float)(alpha * acc + beta * c[i + j * g.LdC]);
            }
        return result;
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(false, true)]
    [InlineData(true, false)]
    [InlineData(true, true)]
    public void Column_major_call_computes_the_row_major_product(bool transA, bool transB)
    {
        const int m = 5, n = 7, k = 3;
        var rng = new Random(11);
        float[] Rand(int count) => [.. Enumerable.Range(0, count).Select(_ => (float)(rng.NextDouble() * 2 - 1))];
        var a = Rand(m * k); // row-major [M, K], or [K, M] when transA
        var b = Rand(k * n); // row-major [K, N], or [N, K] when transB
        var c = Rand(m * n); // row-major [M, N]
        double A(int i, int p) => transA ? a[p * m + i] : a[i * k + p];
        double B(int p, int j) => transB ? b[j * k + p] : b[p * n + j];

        var got = ColumnMajorGemm(CudaLaunches.GemmMapping(m, n, k, transA, transB), b, a, 0.5f, 2f, c);

        for (var i = 0; i < m; i++)
            for (var j = 0; j < n; j++)
            {
                double want = 2.0 * c[i * n + j];
                for (var p = 0; p < k; p++) want += 0.5 * A(i, p) * B(p, j);
                Assert.Equal(want, got[i * n + j], 4);
            }
    }
}
