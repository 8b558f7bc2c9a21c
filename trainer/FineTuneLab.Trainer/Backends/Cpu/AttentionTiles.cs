using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace FineTuneLab.Trainer.Backends.Cpu;

/// <summary>
/// The two small matrix products attention is made of, for a group of up to <see cref="Rows"/> rows at a time:
/// scores S[r, c] = a_r · b_c against a transposed operand (vectorized over c, so no horizontal sums), and
/// accumulation acc[r, :] += Σ_c P[r, c] · row_c (vectorized over the head dimension). Each operand load is shared by
/// all rows of the group, which is what makes the tiled form faster than row-at-a-time dot products.
/// </summary>
internal static unsafe class AttentionTiles
{
    public const int Rows = 4;
    public const int Cols = 64;

    /// <summary>
    /// S[r * Cols + c] = Σ_d a[r][d] · bt[d * ldb + c] for r &lt; 4 and c &lt; cols (cols a multiple of 8; bt readable
    /// that far). a0..a3 are row pointers (repeat a row for missing ones).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Scores(float* a0, float* a1, float* a2, float* a3, float* bt, long ldb, int dim, int cols, float* s)
    {
        var c = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            // 4 rows × 32 columns: 8 accumulators, two operand loads and four broadcasts per 8 FMAs
            for (; c + 32 <= cols; c += 32)
            {
                Vector512<float> s00 = default, s01 = default, s10 = default, s11 = default;
                Vector512<float> s20 = default, s21 = default, s30 = default, s31 = default;
                var b = bt + c;
                for (var d = 0; d < dim; d++)
                {
                    var b0 = Vector512.Load(b);
                    var b1 = Vector512.Load(b + 16);
                    b += ldb;
                    var x0 = Vector512.Create(a0[d]);
                    s00 = Vector512.FusedMultiplyAdd(x0, b0, s00);
                    s01 = Vector512.FusedMultiplyAdd(x0, b1, s01);
                    var x1 = Vector512.Create(a1[d]);
                    s10 = Vector512.FusedMultiplyAdd(x1, b0, s10);
                    s11 = Vector512.FusedMultiplyAdd(x1, b1, s11);
                    var x2 = Vector512.Create(a2[d]);
                    s20 = Vector512.FusedMultiplyAdd(x2, b0, s20);
                    s21 = Vector512.FusedMultiplyAdd(x2, b1, s21);
                    var x3 = Vector512.Create(a3[d]);
                    s30 = Vector512.FusedMultiplyAdd(x3, b0, s30);
                    s31 = Vector512.FusedMultiplyAdd(x3, b1, s31);
                }
                Vector512.Store(s00, s + c);
                Vector512.Store(s01, s + c + 16);
                Vector512.Store(s10, s + Cols + c);
                Vector512.Store(s11, s + Cols + c + 16);
                Vector512.Store(s20, s + 2 * Cols + c);
                Vector512.Store(s21, s + 2 * Cols + c + 16);
                Vector512.Store(s30, s + 3 * Cols + c);
                Vector512.Store(s31, s + 3 * Cols + c + 16);
            }
        }
        for (; c < cols; c += 8)
        {
            Vector256<float> s0 = default, s1 = default, s2 = default, s3 = default;
            var b = bt + c;
            for (var d = 0; d < dim; d++)
            {
                var bv = Vector256.Load(b + d * ldb);
                s0 = Vector256.FusedMultiplyAdd(Vector256.Create(a0[d]), bv, s0);
                s1 = Vector256.FusedMultiplyAdd(Vector256.Create(a1[d]), bv, s1);
                s2 = Vector256.FusedMultiplyAdd(Vector256.Create(a2[d]), bv, s2);
                s3 = Vector256.FusedMultiplyAdd(Vector256.Create(a3[d]), bv, s3);
            }
            Vector256.Store(s0, s + c);
            Vector256.Store(s1, s + Cols + c);
            Vector256.Store(s2, s + 2 * Cols + c);
            Vector256.Store(s3, s + 3 * Cols + c);
        }
    }

    /// <summary>acc[r * dim + d] += Σ_{c &lt; cols} p[r * Cols + c] · rows[c * rowStride + d] for r &lt; 4.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Accumulate(float* p, int cols, float* rows, long rowStride, int dim, float* acc)
    {
        var d = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            // 4 rows × 32 of the head dimension: 8 accumulators, two row loads and four broadcasts per 8 FMAs
            for (; d + 32 <= dim; d += 32)
            {
                var o00 = Vector512.Load(acc + d);
                var o01 = Vector512.Load(acc + d + 16);
                var o10 = Vector512.Load(acc + dim + d);
                var o11 = Vector512.Load(acc + dim + d + 16);
                var o20 = Vector512.Load(acc + 2 * dim + d);
                var o21 = Vector512.Load(acc + 2 * dim + d + 16);
                var o30 = Vector512.Load(acc + 3 * dim + d);
                var o31 = Vector512.Load(acc + 3 * dim + d + 16);
                var row = rows + d;
                for (var c = 0; c < cols; c++)
                {
                    var v0 = Vector512.Load(row);
                    var v1 = Vector512.Load(row + 16);
                    row += rowStride;
                    var x0 = Vector512.Create(p[c]);
                    o00 = Vector512.FusedMultiplyAdd(x0, v0, o00);
                    o01 = Vector512.FusedMultiplyAdd(x0, v1, o01);
                    var x1 = Vector512.Create(p[Cols + c]);
                    o10 = Vector512.FusedMultiplyAdd(x1, v0, o10);
                    o11 = Vector512.FusedMultiplyAdd(x1, v1, o11);
                    var x2 = Vector512.Create(p[2 * Cols + c]);
                    o20 = Vector512.FusedMultiplyAdd(x2, v0, o20);
                    o21 = Vector512.FusedMultiplyAdd(x2, v1, o21);
                    var x3 = Vector512.Create(p[3 * Cols + c]);
                    o30 = Vector512.FusedMultiplyAdd(x3, v0, o30);
                    o31 = Vector512.FusedMultiplyAdd(x3, v1, o31);
                }
                Vector512.Store(o00, acc + d);
                Vector512.Store(o01, acc + d + 16);
                Vector512.Store(o10, acc + dim + d);
                Vector512.Store(o11, acc + dim + d + 16);
                Vector512.Store(o20, acc + 2 * dim + d);
                Vector512.Store(o21, acc + 2 * dim + d + 16);
                Vector512.Store(o30, acc + 3 * dim + d);
                Vector512.Store(o31, acc + 3 * dim + d + 16);
            }
        }
        for (; d + 8 <= dim; d += 8)
        {
            var o0 = Vector256.Load(acc + d);
            var o1 = Vector256.Load(acc + dim + d);
            var o2 = Vector256.Load(acc + 2 * dim + d);
            var o3 = Vector256.Load(acc + 3 * dim + d);
            var row = rows + d;
            for (var c = 0; c < cols; c++)
            {
                var v = Vector256.Load(row + c * rowStride);
                o0 = Vector256.FusedMultiplyAdd(Vector256.Create(p[c]), v, o0);
                o1 = Vector256.FusedMultiplyAdd(Vector256.Create(p[Cols + c]), v, o1);
                o2 = Vector256.FusedMultiplyAdd(Vector256.Create(p[2 * Cols + c]), v, o2);
                o3 = Vector256.FusedMultiplyAdd(Vector256.Create(p[3 * Cols + c]), v, o3);
            }
            Vector256.Store(o0, acc + d);
            Vector256.Store(o1, acc + dim + d);
            Vector256.Store(o2, acc + 2 * dim + d);
            Vector256.Store(o3, acc + 3 * dim + d);
        }
        for (; d < dim; d++)
        {
            float o0 = acc[d], o1 = acc[dim + d], o2 = acc[2 * dim + d], o3 = acc[3 * dim + d];
            for (var c = 0; c < cols; c++)
            {
                var v = rows[c * rowStride + d];
                o0 = MathF.FusedMultiplyAdd(p[c], v, o0);
                o1 = MathF.FusedMultiplyAdd(p[Cols + c], v, o1);
                o2 = MathF.FusedMultiplyAdd(p[2 * Cols + c], v, o2);
                o3 = MathF.FusedMultiplyAdd(p[3 * Cols + c], v, o3);
            }
            acc[d] = o0; acc[dim + d] = o1; acc[2 * dim + d] = o2; acc[3 * dim + d] = o3;
        }
    }
}
