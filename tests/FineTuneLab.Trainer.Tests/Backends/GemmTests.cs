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
        foreach (var threads in new[] { 1, 2, 3 })
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

    [Fact]
    public void Mismatched_shapes_are_rejected_with_the_shapes_named()
    {
        using var backend = new CpuBackend(1);
        using var t = new HostTensors();
        var e = Assert.Throws<ArgumentException>(() => backend.Gemm(t.New(DType.F32, 4, 5), false, t.New(DType.F32, 6, 3), false, t.New(DType.F32, 4, 3)));
        Assert.Contains("inner dimensions", e.Message);
        Assert.Contains("[6, 3]", e.Message);
    }
}
