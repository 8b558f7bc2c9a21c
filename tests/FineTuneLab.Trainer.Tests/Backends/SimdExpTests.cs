using System.Runtime.Intrinsics;
using FineTuneLab.Trainer.Backends.Cpu;

namespace FineTuneLab.Trainer.Tests.Backends;

public sealed class SimdExpTests
{
    [Fact]
    public void Exp_is_within_two_ulp_of_the_double_result_over_the_float_range()
    {
        var rng = new Random(5);
        var worst = 0.0;
        var worstX = 0f;
        for (var i = 0; i < 200_000; i++)
        {
            // uniform over the range, plus a dense sample near 0 where softmax inputs sit
            var x = i % 2 == 0 ? (float)(rng.NextDouble() * 175.6 - 87.3) : (float)(rng.NextDouble() * 20 - 10);
            var got = SimdOps.Exp(Vector256.Create(x))[0];
            var want = Math.Exp(x);
            var ulp = Math.Abs(got - want) / (MathF.BitIncrement((float)want) - (float)want);
            if (ulp > worst) (worst, worstX) = (ulp, x);
        }
        Assert.True(worst <= 2, $"worst error {worst:F2} ulp at x = {worstX:R}");
    }

    [Theory]
    [InlineData(float.NegativeInfinity, 0f)]
    [InlineData(-1000f, 0f)]
    [InlineData(-87.5f, 0f)]
    [InlineData(0f, 1f)]
    [InlineData(89f, float.PositiveInfinity)]
    [InlineData(float.PositiveInfinity, float.PositiveInfinity)]
    public void Exp_saturates_to_zero_and_infinity(float x, float expected) =>
        Assert.Equal(expected, SimdOps.Exp(Vector256.Create(x))[0]);

    [Fact]
    public void Exp_of_NaN_is_NaN() => Assert.True(float.IsNaN(SimdOps.Exp(Vector256.Create(float.NaN))[0]));

    [Fact]
    public unsafe void ExpShiftedSum_treats_a_partial_last_vector_like_a_full_one()
    {
        // the same values at the start of a row and after padding columns give the same exponentials
        var values = new float[] { 0.5f, -1.25f, 2f, -3.5f, 0.125f, 1f, -0.75f, 0.3f, 1.7f, -2.2f, 0.9f };
        var alone = (float[])values.Clone();
        var padded = Enumerable.Repeat(float.NegativeInfinity, 5).Concat(values).ToArray();
        fixed (float* a = alone)
        fixed (float* p = padded)
        {
            SimdOps.ExpShiftedSum(a, alone.Length, 2f);
            SimdOps.ExpShiftedSum(p, padded.Length, 2f);
        }
        Assert.Equal(alone, padded[5..]);
        Assert.All(padded[..5], v => Assert.Equal(0f, v));
    }
}
