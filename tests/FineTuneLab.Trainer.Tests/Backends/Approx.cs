namespace FineTuneLab.Trainer.Tests.Backends;

/// <summary>Comparison of kernel outputs with references: the largest error relative to the reference's magnitude.</summary>
public static class Approx
{
    /// <summary>
    /// Fails unless |actual - expected| ≤ tolerance · (|expected| + max|expected|·0.01) for every element: relative for
    /// ordinary values, with a floor of 1% of the tensor's scale so values that cancel to near zero do not dominate.
    /// </summary>
    public static void Equal(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual, double tolerance, string what)
    {
        Assert.True(expected.Length == actual.Length, $"{what}: {actual.Length} values, expected {expected.Length}");
        double scale = 0;
        foreach (var e in expected) scale = Math.Max(scale, Math.Abs(e));
        var floor = Math.Max(scale * 0.01, 1e-30);
        double worst = 0;
        var worstAt = -1;
        for (var i = 0; i < expected.Length; i++)
        {
            if (float.IsInfinity(expected[i]) || float.IsNaN(expected[i]))
            {
                Assert.True(expected[i].Equals(actual[i]), $"{what}[{i}]: {actual[i]}, expected {expected[i]}");
                continue;
            }
            var err = Math.Abs((double)actual[i] - expected[i]) / (Math.Abs(expected[i]) + floor);
            if (double.IsNaN(err) || err > worst) { worst = err; worstAt = i; }
            if (double.IsNaN(err)) break;
        }
        if (!(worst <= tolerance))
            Assert.Fail($"{what}: relative error {worst:E2} at [{worstAt}] (got {actual[worstAt]}, expected {expected[worstAt]}) exceeds {tolerance:E1}");
    }
}
