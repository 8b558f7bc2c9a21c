using FineTuneLab.Trainer.Backends.Cpu;
using FineTuneLab.Trainer.Tensors;

namespace FineTuneLab.Trainer.Tests.Backends;

public sealed class GemmTests
{
    private static readonly TorchOpsReference Ref = TorchOpsReference.Instance;

    [Theory]
    [InlineData("gemm_f32_00")]
    [InlineData("gemm_f32_01")]
    [InlineData("gemm_f32_10")]
    [InlineData("gemm_f32_11")]
    [InlineData("gemm_bf16_00")]
    [InlineData("gemm_bf16_01")]
    [InlineData("gemm_bf16_10")]
    [InlineData("gemm_bf16_11")]
    [InlineData("gemm_f16_01")]
    [InlineData("gemm_wide")]
    [InlineData("gemm_tall")]
    public void Matches_torch(string name)
    {
        foreach (var threads in new[] { 1, 2, 3, 5 })
        {
            using var backend = new CpuBackend(threads);
            using var t = new HostTensors();
            var a = t.FromReference(Ref, name, "a");
            var b = t.FromReference(Ref, name, "b", name.StartsWith("gemm_f16", StringComparison.Ordinal) ? DType.F16 : DType.BF16);
            var c = t.FromReference(Ref, name, "c0");
            var beta = (float)Ref.Param(name, "beta");
            if (beta == 0) c.AsFloat().Fill(float.NaN); // beta = 0 must not read C
            backend.Gemm(a, Ref.Flag(name, "transA"), b, Ref.Flag(name, "transB"), c, (float)Ref.Param(name, "alpha"), beta);
            Approx.Equal(Ref.F32(name, "expected"), c.AsFloat(), 5e-5, $"{name} with {threads} threads");
        }
    }

    [Fact]
    public void Leading_dimensions_of_A_and_C_are_merged_into_rows()
    {
        using var backend = new CpuBackend(2);
        using var t = new HostTensors();
        var rng = new Random(7);
        var a = t.F32(Enumerable.Range(0, 2 * 5 * 8).Select(_ => (float)rng.NextDouble()).ToArray(), 2, 5, 8);
        var w = t.F32(Enumerable.Range(0, 3 * 8).Select(_ => (float)rng.NextDouble()).ToArray(), 3, 8);
        var c = t.New(DType.F32, 2, 5, 3);
        backend.Gemm(a, false, w, true, c);
        var av = a.AsFloat(); var wv = w.AsFloat(); var cv = c.AsFloat();
        for (var r = 0; r < 10; r++)
            for (var n = 0; n < 3; n++)
            {
                double s = 0;
                for (var k = 0; k < 8; k++) s += av[r * 8 + k] * wv[n * 8 + k];
                Assert.Equal(s, cv[r * 3 + n], 5);
            }
    }

    // LoRA's shapes (rank on one side, read in place without packing), ragged edges, and the fused low-rank term.
    [Theory]
    [InlineData(512, 16, 576, false, true, 0)]
    [InlineData(131, 13, 200, false, true, 0)]
    [InlineData(16, 576, 512, true, false, 0)]
    [InlineData(14, 197, 70, true, false, 0)]
    [InlineData(512, 576, 16, false, false, 0)]
    [InlineData(100, 200, 96, false, true, 16)]
    [InlineData(77, 300, 64, false, false, 8)]
    [InlineData(20, 64, 33, false, false, 5)]
    // several depth blocks, ragged row and panel tails, and grids of many tiles (row-wise packing of B and of Aᵀ)
    [InlineData(301, 611, 530, true, false, 0)]
    [InlineData(250, 75, 1100, false, false, 0)]
    [InlineData(97, 1090, 260, false, true, 0)]
    [InlineData(61, 45, 700, true, true, 4)]
    public void Skinny_low_rank_and_tiled_shapes_match_a_float64_product(int m, int n, int k, bool transA, bool transB, int rank)
    {
        var rng = new Random(m * 31 + n * 7 + k);
        float[] Rand(int count) => Enumerable.Range(0, count).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
        var av = Rand(m * k);
        var bv = Rand(k * n);
        var lv = Rand(m * Math.Max(rank, 1));
        var rv = Rand(Math.Max(rank, 1) * n);
        var c0 = Rand(m * n);
        const float alpha = 0.75f, beta = 0.5f, lowScale = 2f;
        var expected = new float[m * n];
        for (var i = 0; i < m; i++)
            for (var j = 0; j < n; j++)
            {
                double sum = 0, low = 0;
                for (var p = 0; p < k; p++)
                    sum += (double)av[transA ? p * m + i : i * k + p] * bv[transB ? j * k + p : p * n + j];
                for (var p = 0; p < rank; p++) low += (double)lv[i * rank + p] * rv[p * n + j];
                expected[i * n + j] = (float)(alpha * sum + lowScale * low + beta * c0[i * n + j]);
            }
        foreach (var threads in new[] { 1, 2, 3, 5 })
        {
            using var backend = new CpuBackend(threads);
            using var t = new HostTensors();
            var a = transA ? t.F32(av, k, m) : t.F32(av, m, k);
            var b = transB ? t.F32(bv, n, k) : t.F32(bv, k, n);
            var c = t.F32(c0, m, n);
            if (rank == 0) backend.Gemm(a, transA, b, transB, c, alpha, beta);
            else backend.GemmLowRank(a, transA, b, transB, c, t.F32(lv, m, rank), t.F32(rv, rank, n), lowScale, alpha, beta);
            Approx.Equal(expected, c.AsFloat(), 5e-5, $"{m}x{n}x{k} transA={transA} transB={transB} rank={rank}, {threads} threads");
        }
    }
}
