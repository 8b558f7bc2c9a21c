using System.Buffers.Binary;
using FineTuneLab.Trainer.Tensors;

namespace FineTuneLab.Trainer.Export.Gguf;

/// <summary>
/// ggml's reference k-quant encoders (ggml-quants.c: quantize_row_q4_K_ref, quantize_row_q6_K_ref and their helpers
/// nearest_int, make_qkx2_quants, make_qx_quants), step for step in float32 so the bytes are ggml's — what
/// llama-quantize writes without an importance matrix. A super-block is 256 values. q4_K: eight 32-value groups, each
/// with a 6-bit scale and min found by a weighted least-squares search, 4-bit codes (144 bytes). q6_K: sixteen
/// 16-value groups with int8 scales, 6-bit codes (210 bytes).
/// </summary>
public static class KQuants
{
    private const float GroupMaxEps = 1e-15f;

    /// <summary>ggml's nearest_int: round half to even through the float mantissa (|x| ≤ 4194303).</summary>
    private static int NearestInt(float fval)
    {
        float val = fval + 12582912f;
        int i = BitConverter.SingleToInt32Bits(val);
        return (i & 0x007fffff) - 0x00400000;
    }

    /// <summary>One q4_K super-block (256 values → 144 bytes: d, dmin as f16, 12 bytes of packed 6-bit scales/mins, 128 bytes of codes).</summary>
    public static void Q4KBlock(ReadOnlySpan<float> x, Span<byte> y)
    {
        Span<byte> l = stackalloc byte[256];
        Span<byte> laux = stackalloc byte[32];
        Span<float> weights = stackalloc float[32];
        Span<float> mins = stackalloc float[8];
        Span<float> scales = stackalloc float[8];
        var packed = y.Slice(4, 12);
        packed.Clear();
        float maxScale = 0, maxMin = 0;
        for (int j = 0; j < 8; j++)
        {
            var xs = x.Slice(32 * j, 32);
            float sumX2 = 0;
            for (int i = 0; i < 32; i++) sumX2 += xs[i] * xs[i];
            float avX = MathF.Sqrt(sumX2 / 32);
            for (int i = 0; i < 32; i++) weights[i] = avX + MathF.Abs(xs[i]);
            scales[j] = MakeQkx2Quants(32, 15, xs, weights, l.Slice(32 * j, 32), out mins[j], laux, -1f, 0.1f, 20, false);
            if (scales[j] > maxScale) maxScale = scales[j];
            if (mins[j] > maxMin) maxMin = mins[j];
        }
        float invScale = maxScale > 0 ? 63f / maxScale : 0f;
        float invMin = maxMin > 0 ? 63f / maxMin : 0f;
        for (int j = 0; j < 8; j++)
        {
            byte ls = Math.Min((byte)63, (byte)NearestInt(invScale * scales[j]));
            byte lm = Math.Min((byte)63, (byte)NearestInt(invMin * mins[j]));
            if (j < 4)
            {
                packed[j] = ls;
                packed[j + 4] = lm;
            }
            else
            {
                packed[j + 4] = (byte)((ls & 0xF) | ((lm & 0xF) << 4));
                packed[j - 4] |= (byte)((ls >> 4) << 6);
                packed[j] |= (byte)((lm >> 4) << 6);
            }
        }
        var dBits = HalfConvert.FloatToF16(maxScale / 63f);
        var mBits = HalfConvert.FloatToF16(maxMin / 63f);
        BinaryPrimitives.WriteUInt16LittleEndian(y, dBits);
        BinaryPrimitives.WriteUInt16LittleEndian(y[2..], mBits);
        float dAll = HalfConvert.F16ToFloat(dBits), mAll = HalfConvert.F16ToFloat(mBits);
        for (int j = 0; j < 8; j++)
        {
            var (sc, m) = ScaleMinK4(j, packed);
            float d = dAll * sc;
            if (d == 0) continue;
            float dm = mAll * m;
            for (int i = 0; i < 32; i++) l[32 * j + i] = (byte)Math.Clamp(NearestInt((x[32 * j + i] + dm) / d), 0, 15);
        }
        var q = y[16..];
        for (int j = 0, o = 0; j < 256; j += 64, o += 32)
            for (int i = 0; i < 32; i++) q[o + i] = (byte)(l[j + i] | (l[j + i + 32] << 4));
    }

    private static (byte Scale, byte Min) ScaleMinK4(int j, ReadOnlySpan<byte> q) =>
        j < 4 ? ((byte)(q[j] & 63), (byte)(q[j + 4] & 63))
              : ((byte)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4)), (byte)((q[j + 4] >> 4) | ((q[j] >> 6) << 4)));

    private static float MakeQkx2Quants(int n, int nmax, ReadOnlySpan<float> x, ReadOnlySpan<float> weights, Span<byte> l, out float theMin,
        Span<byte> laux, float rmin, float rdelta, int nstep, bool useMad)
    {
        float min = x[0], max = x[0];
        float sumW = weights[0];
        float sumX = sumW * x[0];
        for (int i = 1; i < n; i++)
        {
            if (x[i] < min) min = x[i];
            if (x[i] > max) max = x[i];
            float w = weights[i];
            sumW += w;
            sumX += w * x[i];
        }
        if (min > 0) min = 0;
        if (max == min)
        {
            l[..n].Clear();
            theMin = -min;
            return 0f;
        }
        float iscale = nmax / (max - min);
        float scale = 1 / iscale;
        float bestError = 0;
        for (int i = 0; i < n; i++)
        {
            int li = NearestInt(iscale * (x[i] - min));
            l[i] = (byte)Math.Max(0, Math.Min(nmax, li));
            float diff = scale * l[i] + min - x[i];
            diff = useMad ? MathF.Abs(diff) : diff * diff;
            bestError += weights[i] * diff;
        }
        if (nstep < 1)
        {
            theMin = -min;
            return scale;
        }
        for (int s = 0; s <= nstep; s++)
        {
            iscale = (rmin + rdelta * s + nmax) / (max - min);
            float sumL = 0, sumL2 = 0, sumXl = 0;
            for (int i = 0; i < n; i++)
            {
                int li = Math.Max(0, Math.Min(nmax, NearestInt(iscale * (x[i] - min))));
                laux[i] = (byte)li;
                float w = weights[i];
                sumL += w * li;
                sumL2 += w * li * li;
                sumXl += w * li * x[i];
            }
            float D = sumW * sumL2 - sumL * sumL;
            if (D > 0)
            {
                float thisScale = (sumW * sumXl - sumX * sumL) / D;
                float thisMin = (sumL2 * sumX - sumL * sumXl) / D;
                if (thisMin > 0)
                {
                    thisMin = 0;
                    thisScale = sumXl / sumL2;
                }
                float curError = 0;
                for (int i = 0; i < n; i++)
                {
                    float diff = thisScale * laux[i] + thisMin - x[i];
                    diff = useMad ? MathF.Abs(diff) : diff * diff;
                    curError += weights[i] * diff;
                }
                if (curError < bestError)
                {
                    laux[..n].CopyTo(l);
                    bestError = curError;
                    scale = thisScale;
                    min = thisMin;
                }
            }
        }
        theMin = -min;
        return scale;
    }

    /// <summary>One q6_K super-block (256 values → 210 bytes: ql[128], qh[64], int8 scales[16], d as f16).</summary>
    public static void Q6KBlock(ReadOnlySpan<float> x, Span<byte> y)
    {
        Span<sbyte> l = stackalloc sbyte[256];
        Span<float> scales = stackalloc float[16];
        float maxScale = 0, maxAbsScale = 0;
        for (int ib = 0; ib < 16; ib++)
        {
            float scale = MakeQxQuants(16, 32, x.Slice(16 * ib, 16), l.Slice(16 * ib, 16));
            scales[ib] = scale;
            float abs = MathF.Abs(scale);
            if (abs > maxAbsScale)
            {
                maxAbsScale = abs;
                maxScale = scale;
            }
        }
        y[..210].Clear();
        if (maxAbsScale < GroupMaxEps) return; // all zero: d = 0 and zero codes
        float iscale = -128f / maxScale;
        var dBits = HalfConvert.FloatToF16(1 / iscale);
        BinaryPrimitives.WriteUInt16LittleEndian(y[208..], dBits);
        var sc = y.Slice(192, 16);
        for (int ib = 0; ib < 16; ib++) sc[ib] = (byte)(sbyte)Math.Min(127, NearestInt(iscale * scales[ib]));
        float dAll = HalfConvert.F16ToFloat(dBits);
        for (int j = 0; j < 16; j++)
        {
            float d = dAll * (sbyte)sc[j];
            if (d == 0) continue;
            for (int i = 0; i < 16; i++) l[16 * j + i] = (sbyte)(Math.Clamp(NearestInt(x[16 * j + i] / d), -32, 31) + 32);
        }
        var ql = y[..128];
        var qh = y.Slice(128, 64);
        for (int j = 0, qlo = 0, qho = 0; j < 256; j += 128, qlo += 64, qho += 32)
            for (int i = 0; i < 32; i++)
            {
                int q1 = l[j + i] & 0xF, q2 = l[j + i + 32] & 0xF, q3 = l[j + i + 64] & 0xF, q4 = l[j + i + 96] & 0xF;
                ql[qlo + i] = (byte)(q1 | (q3 << 4));
                ql[qlo + i + 32] = (byte)(q2 | (q4 << 4));
                qh[qho + i] = (byte)((l[j + i] >> 4) | ((l[j + i + 32] >> 4) << 2) | ((l[j + i + 64] >> 4) << 4) | ((l[j + i + 96] >> 4) << 6));
            }
    }

    /// <summary>ggml's make_qx_quants with rmse_type 1 (weights x²) and no importance weights, as q6_K calls it.</summary>
    private static float MakeQxQuants(int n, int nmax, ReadOnlySpan<float> x, Span<sbyte> l)
    {
        float max = 0, amax = 0;
        for (int i = 0; i < n; i++)
        {
            float ax = MathF.Abs(x[i]);
            if (ax > amax) { amax = ax; max = x[i]; }
        }
        if (amax < GroupMaxEps)
        {
            l[..n].Clear();
            return 0f;
        }
        float iscale = -nmax / max;
        float sumlx = 0, suml2 = 0;
        for (int i = 0; i < n; i++)
        {
            int li = Math.Max(-nmax, Math.Min(nmax - 1, NearestInt(iscale * x[i])));
            l[i] = (sbyte)(li + nmax);
            float w = x[i] * x[i];
            sumlx += w * x[i] * li;
            suml2 += w * li * li;
        }
        float scale = suml2 != 0 ? sumlx / suml2 : 0f;
        float best = scale * sumlx;
        for (int s = -9; s <= 9; s++)
        {
            if (s == 0) continue;
            iscale = -(nmax + 0.1f * s) / max;
            sumlx = suml2 = 0;
            for (int i = 0; i < n; i++)
            {
                int li = Math.Max(-nmax, Math.Min(nmax - 1, NearestInt(iscale * x[i])));
                float w = x[i] * x[i];
                sumlx += w * x[i] * li;
                suml2 += w * li * li;
            }
            if (suml2 > 0 && sumlx * sumlx > best * suml2)
            {
                for (int i = 0; i < n; i++) l[i] = (sbyte)(nmax + Math.Max(-nmax, Math.Min(nmax - 1, NearestInt(iscale * x[i]))));
                scale = sumlx / suml2;
                best = scale * sumlx;
            }
        }
        return scale;
    }
}
