namespace FineTuneLab.Trainer.Tests.Export.Gguf;

/// <summary>How closely two [T, V] logit arrays agree: worst |Δ| relative to the largest |logit|, worst per-position KL(ours ‖ theirs), top-1 agreement.</summary>
internal sealed record LogitAgreement(double MaxAbsDiff, double MaxAbsLogit, double MaxKl, double MeanKl, double Top1)
{
    public double RelativeMaxAbs => MaxAbsDiff / MaxAbsLogit;

    public static LogitAgreement Of(float[] ours, float[] theirs, int vocab)
    {
        if (ours.Length != theirs.Length) throw new ArgumentException($"{ours.Length} vs {theirs.Length} logits");
        int t = ours.Length / vocab;
        double maxDiff = 0, maxAbs = 0, maxKl = 0, sumKl = 0;
        int same = 0;
        for (int p = 0; p < t; p++)
        {
            var a = ours.AsSpan(p * vocab, vocab);
            var b = theirs.AsSpan(p * vocab, vocab);
            for (int i = 0; i < vocab; i++)
            {
                maxDiff = Math.Max(maxDiff, Math.Abs(a[i] - b[i]));
                maxAbs = Math.Max(maxAbs, Math.Abs(a[i]));
            }
            var la = LogSoftmax(a);
            var lb = LogSoftmax(b);
            double kl = 0;
            for (int i = 0; i < vocab; i++) kl += Math.Exp(la[i]) * (la[i] - lb[i]);
            maxKl = Math.Max(maxKl, kl);
            sumKl += kl;
            if (ArgMax(a) == ArgMax(b)) same++;
        }
        return new LogitAgreement(maxDiff, maxAbs, maxKl, sumKl / t, (double)same / t);
    }

    public static int ArgMax(ReadOnlySpan<float> x)
    {
        int best = 0;
        for (int i = 1; i < x.Length; i++) if (x[i] > x[best]) best = i;
        return best;
    }

    private static double[] LogSoftmax(ReadOnlySpan<float> x)
    {
        double max = double.NegativeInfinity;
        foreach (var v in x) max = Math.Max(max, v);
        double sum = 0;
        foreach (var v in x) sum += Math.Exp(v - max);
        var lse = max + Math.Log(sum);
        var r = new double[x.Length];
        for (int i = 0; i < x.Length; i++) r[i] = x[i] - lse;
        return r;
    }

    public override string ToString() => $"max|Δ| {MaxAbsDiff:G3} ({100 * RelativeMaxAbs:F2}% of max |logit| {MaxAbsLogit:G3}), KL max {MaxKl:G3} mean {MeanKl:G3}, top-1 {100 * Top1:F1}%";
}
