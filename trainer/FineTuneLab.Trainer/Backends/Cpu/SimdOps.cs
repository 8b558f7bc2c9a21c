using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace FineTuneLab.Trainer.Backends.Cpu;

/// <summary>
/// Short-vector primitives for loops over one head dimension (16..256 floats), inlined into the caller: at these
/// lengths a call into TensorPrimitives costs as much as the arithmetic.
/// </summary>
internal static unsafe class SimdOps
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Dot(float* a, float* b, int n)
    {
        var i = 0;
        var sum = 0f;
        if (Vector512.IsHardwareAccelerated && n >= 16)
        {
            var acc = Vector512<float>.Zero;
            for (; i + 16 <= n; i += 16)
                acc = Vector512.FusedMultiplyAdd(Vector512.Load(a + i), Vector512.Load(b + i), acc);
            sum = Vector512.Sum(acc);
        }
        else if (Vector256.IsHardwareAccelerated && n >= 8)
        {
            var acc = Vector256<float>.Zero;
            for (; i + 8 <= n; i += 8)
                acc = Vector256.FusedMultiplyAdd(Vector256.Load(a + i), Vector256.Load(b + i), acc);
            sum = Vector256.Sum(acc);
        }
        for (; i < n; i++) sum = MathF.FusedMultiplyAdd(a[i], b[i], sum);
        return sum;
    }

    /// <summary>y += alpha · x.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Axpy(float alpha, float* x, float* y, int n)
    {
        var i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            var va = Vector512.Create(alpha);
            for (; i + 16 <= n; i += 16)
                Vector512.Store(Vector512.FusedMultiplyAdd(va, Vector512.Load(x + i), Vector512.Load(y + i)), y + i);
        }
        if (Vector256.IsHardwareAccelerated)
        {
            var va = Vector256.Create(alpha);
            for (; i + 8 <= n; i += 8)
                Vector256.Store(Vector256.FusedMultiplyAdd(va, Vector256.Load(x + i), Vector256.Load(y + i)), y + i);
        }
        for (; i < n; i++) y[i] = MathF.FusedMultiplyAdd(alpha, x[i], y[i]);
    }

    /// <summary>y *= alpha.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Scale(float* y, float alpha, int n)
    {
        var i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            var va = Vector256.Create(alpha);
            for (; i + 8 <= n; i += 8)
                Vector256.Store(Vector256.Load(y + i) * va, y + i);
        }
        for (; i < n; i++) y[i] *= alpha;
    }

    /// <summary>Stores rows r0..r7 of an 8×8 block transposed: dst[c * ldd + r] = r_r[c]. Needs AVX.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void StoreTransposed8x8(Vector256<float> r0, Vector256<float> r1, Vector256<float> r2, Vector256<float> r3,
        Vector256<float> r4, Vector256<float> r5, Vector256<float> r6, Vector256<float> r7, float* dst, long ldd)
    {
        var t0 = Avx.UnpackLow(r0, r1);
        var t1 = Avx.UnpackHigh(r0, r1);
        var t2 = Avx.UnpackLow(r2, r3);
        var t3 = Avx.UnpackHigh(r2, r3);
        var t4 = Avx.UnpackLow(r4, r5);
        var t5 = Avx.UnpackHigh(r4, r5);
        var t6 = Avx.UnpackLow(r6, r7);
        var t7 = Avx.UnpackHigh(r6, r7);
        var u0 = Avx.Shuffle(t0, t2, 0x44);
        var u1 = Avx.Shuffle(t0, t2, 0xEE);
        var u2 = Avx.Shuffle(t1, t3, 0x44);
        var u3 = Avx.Shuffle(t1, t3, 0xEE);
        var u4 = Avx.Shuffle(t4, t6, 0x44);
        var u5 = Avx.Shuffle(t4, t6, 0xEE);
        var u6 = Avx.Shuffle(t5, t7, 0x44);
        var u7 = Avx.Shuffle(t5, t7, 0xEE);
        Avx.Store(dst, Avx.Permute2x128(u0, u4, 0x20));
        Avx.Store(dst + ldd, Avx.Permute2x128(u1, u5, 0x20));
        Avx.Store(dst + 2 * ldd, Avx.Permute2x128(u2, u6, 0x20));
        Avx.Store(dst + 3 * ldd, Avx.Permute2x128(u3, u7, 0x20));
        Avx.Store(dst + 4 * ldd, Avx.Permute2x128(u0, u4, 0x31));
        Avx.Store(dst + 5 * ldd, Avx.Permute2x128(u1, u5, 0x31));
        Avx.Store(dst + 6 * ldd, Avx.Permute2x128(u2, u6, 0x31));
        Avx.Store(dst + 7 * ldd, Avx.Permute2x128(u3, u7, 0x31));
    }

    /// <summary>
    /// e^x per lane in float arithmetic (Cephes' expf): x = n·ln 2 + r with |r| ≤ ln 2 / 2, e^r from a degree-6
    /// polynomial, 2^n put straight into the exponent bits. Within 1.3 ulp of the true value for x in [−87.3, 88.3];
    /// exactly 0 below (so e^−∞ = 0, which masked softmax columns rely on), +∞ above 88.72, NaN stays NaN.
    /// Several times faster than Vector256.Exp, which widens to double for a last-bit-correct result that softmax,
    /// sigmoid and cross-entropy do not need.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Exp(Vector256<float> x)
    {
        var xc = Vector256.Min(Vector256.Max(x, Vector256.Create(-87.33654f)), Vector256.Create(88.3f));
        var n = Vector256.Round(xc * Vector256.Create(1.44269504088896341f));
        var r = Vector256.FusedMultiplyAdd(n, Vector256.Create(-0.693359375f), xc);
        r = Vector256.FusedMultiplyAdd(n, Vector256.Create(2.12194440e-4f), r);
        var p = Vector256.Create(1.9875691500e-4f);
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(1.3981999507e-3f));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(8.3334519073e-3f));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(4.1665795894e-2f));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(1.6666665459e-1f));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(5.0000001201e-1f));
        p = Vector256.FusedMultiplyAdd(p, r * r, r + Vector256<float>.One);
        var pow2 = Vector256.ShiftLeft(Vector256.ConvertToInt32(n) + Vector256.Create(127), 23).AsSingle();
        var e = p * pow2;
        e = Vector256.ConditionalSelect(Vector256.LessThan(x, Vector256.Create(-87.33654f)), Vector256<float>.Zero, e);
        return Vector256.ConditionalSelect(Vector256.GreaterThan(x, Vector256.Create(88.72283f)), Vector256.Create(float.PositiveInfinity), e);
    }

    /// <summary>Lanes of one Vector256, as a stack value (no stackalloc, so callers stay inlinable).</summary>
    [InlineArray(8)]
    private struct Lanes8
    {
        private float _lane;
    }

    /// <summary>
    /// The 8 floats at p, or the first <paramref name="count"/> of them with the other lanes set to
    /// <paramref name="fill"/>: a loop's last partial vector goes through the same vector code as the rest.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Load8(float* p, long count, float fill)
    {
        if (count >= 8) return Vector256.Load(p);
        var lanes = new Lanes8();
        Span<float> l = lanes;
        l.Fill(fill);
        new ReadOnlySpan<float>(p, (int)count).CopyTo(l);
        return Vector256.Create<float>(l);
    }

    /// <summary>Stores the first min(8, <paramref name="count"/>) lanes of v at p.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store8(Vector256<float> v, float* p, long count)
    {
        if (count >= 8)
        {
            Vector256.Store(v, p);
            return;
        }
        var lanes = new Lanes8();
        Span<float> l = lanes;
        v.CopyTo(l);
        l[..(int)count].CopyTo(new Span<float>(p, (int)count));
    }

    /// <summary>s[i] = e^(s[i] − shift) for i &lt; n; returns their sum (e^−∞ = 0 adds nothing).</summary>
    public static float ExpShiftedSum(float* s, long n, float shift)
    {
        var vShift = Vector256.Create(shift);
        var acc = Vector256<float>.Zero;
        for (long i = 0; i < n; i += 8)
        {
            var e = Exp(Load8(s + i, n - i, float.NegativeInfinity) - vShift);
            Store8(e, s + i, n - i);
            acc += e;
        }
        return Vector256.Sum(acc);
    }
}
