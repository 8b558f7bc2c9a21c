using System.Runtime.Intrinsics;

namespace FineTuneLab.Trainer.Backends.Cpu;

/// <summary>
/// The element-wise softmax steps of tiled attention, one score row (at most <see cref="AttentionTiles.Cols"/>
/// columns) at a time, each step one fused vector loop: at these lengths a chain of TensorPrimitives calls (scale,
/// subtract, exp, multiply, ...) spends more in call overhead than in arithmetic. A row's last partial vector goes
/// through the same vector code as the rest (padded in registers), so a value does not depend on which column of a
/// block it lands in: a packed document and the same document alone get the same exponentials.
/// </summary>
internal static unsafe class AttentionRows
{
    private const int W = 8;

    /// <summary>s[c] *= scale for c &lt; n; returns the largest scaled value.</summary>
    public static float ScaleAndMax(float* s, int n, float scale)
    {
        var vs = Vector256.Create(scale);
        var vm = Vector256.Create(float.NegativeInfinity);
        for (var c = 0; c < n; c += W)
        {
            var v = SimdOps.Load8(s + c, n - c, float.NegativeInfinity) * vs;
            SimdOps.Store8(v, s + c, n - c);
            vm = Vector256.Max(vm, v);
        }
        var m = Vector128.Max(vm.GetLower(), vm.GetUpper());
        return MathF.Max(MathF.Max(m[0], m[1]), MathF.Max(m[2], m[3]));
    }

    /// <summary>The probabilities of one query row again from its raw scores: p[c] = exp(s[c] · scale − lse).</summary>
    public static void Probabilities(float* s, int n, float scale, float lse)
    {
        var vs = Vector256.Create(scale);
        var vl = Vector256.Create(-lse);
        for (var c = 0; c < n; c += W)
            SimdOps.Store8(SimdOps.Exp(Vector256.FusedMultiplyAdd(SimdOps.Load8(s + c, n - c, 0f), vs, vl)), s + c, n - c);
    }

    /// <summary>Per-column form of <see cref="Probabilities(float*, int, float, float)"/> (a key row against many queries).</summary>
    public static void Probabilities(float* s, int n, float scale, float* lse)
    {
        var vs = Vector256.Create(scale);
        for (var c = 0; c < n; c += W)
            SimdOps.Store8(SimdOps.Exp(Vector256.FusedMultiplyAdd(SimdOps.Load8(s + c, n - c, 0f), vs, -SimdOps.Load8(lse + c, n - c, 0f))), s + c, n - c);
    }

    /// <summary>The softmax backward of one row: ds[c] = p[c] · (dp[c] − delta) · scale (ds may alias p or dp).</summary>
    public static void ScoreGradient(float* p, float* dp, float* ds, int n, float delta, float scale)
    {
        var vd = Vector256.Create(delta);
        var vs = Vector256.Create(scale);
        for (var c = 0; c < n; c += W)
            SimdOps.Store8(SimdOps.Load8(p + c, n - c, 0f) * (SimdOps.Load8(dp + c, n - c, 0f) - vd) * vs, ds + c, n - c);
    }

    /// <summary>Per-column form of <see cref="ScoreGradient(float*, float*, float*, int, float, float)"/>.</summary>
    public static void ScoreGradient(float* p, float* dp, float* ds, int n, float* delta, float scale)
    {
        var vs = Vector256.Create(scale);
        for (var c = 0; c < n; c += W)
            SimdOps.Store8(SimdOps.Load8(p + c, n - c, 0f) * (SimdOps.Load8(dp + c, n - c, 0f) - SimdOps.Load8(delta + c, n - c, 0f)) * vs, ds + c, n - c);
    }
}
