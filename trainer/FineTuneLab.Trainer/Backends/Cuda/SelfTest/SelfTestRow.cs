namespace FineTuneLab.Trainer.Backends.Cuda.SelfTest;

/// <summary>One line of the self-test table: an output of one op, CUDA against the CPU backend.</summary>
public sealed record SelfTestRow(string Op, string DType, double MaxAbsError, double MaxRelError, double Tolerance, bool Pass, string Note = "");

/// <summary>
/// Tolerances relative to the reference output's largest magnitude: fp32 kernels differ from the CPU only in summation
/// order and fast-math intrinsics; TF32 GEMMs round inputs to 10 mantissa bits; bf16 outputs carry 8 bits.
/// </summary>
public static class SelfTestTolerance
{
    public const double F32 = 1e-4;
    public const double Tf32Gemm = 1e-2;
    public const double Bf16 = 2e-2;
    public const double F16 = 2e-3;
    /// <summary>Whole training steps: TF32 GEMMs and reordered sums compound over layers and steps.</summary>
    public const double TrainingSteps = 5e-2;
}

public static class SelfTestCompare
{
    /// <summary>max |a - b|, and that divided by max |reference| (a relative error that ignores tiny reference elements).</summary>
    public static (double MaxAbs, double MaxRel) Errors(ReadOnlySpan<float> reference, ReadOnlySpan<float> actual)
    {
        if (reference.Length != actual.Length) throw new ArgumentException($"compared lengths differ: {reference.Length} vs {actual.Length}");
        double maxAbs = 0, scale = 0;
        for (var i = 0; i < reference.Length; i++)
        {
            double r = reference[i], a = actual[i];
            var d = Math.Abs(r - a);
            if (double.IsNaN(d)) d = double.PositiveInfinity;
            maxAbs = Math.Max(maxAbs, d);
            scale = Math.Max(scale, Math.Abs(r));
        }
        return (maxAbs, scale > 0 ? maxAbs / scale : maxAbs);
    }

    public static SelfTestRow Row(string op, string dtype, ReadOnlySpan<float> reference, ReadOnlySpan<float> actual, double tolerance)
    {
        var (abs, rel) = Errors(reference, actual);
        return new SelfTestRow(op, dtype, abs, rel, tolerance, rel <= tolerance);
    }
}
