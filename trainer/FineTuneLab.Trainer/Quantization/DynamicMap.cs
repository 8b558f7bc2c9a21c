namespace FineTuneLab.Trainer.Quantization;

/// <summary>
/// bitsandbytes' 8-bit dynamic data type (<c>create_dynamic_map(signed=True)</c>) and its blockwise 8-bit quantizer
/// (the <c>dQuantize</c> binary search of kQuantizeBlockwise), used to double-quantize NF4's absmax values.
/// </summary>
public static class DynamicMap
{
    private static readonly float[] Signed = Create();

    /// <summary>The 256 sorted code values, computed as bitsandbytes does (float32 linspace, means, powers of ten).</summary>
    public static ReadOnlySpan<float> SignedMap => Signed;

    private static float[] Create()
    {
        const int maxExponentBits = 7, totalBits = 8;
        const int nonSignBits = totalBits - 1;
        var data = new List<float>();
        for (int i = 0; i < maxExponentBits; i++)
        {
            int fractionItems = (1 << (i + nonSignBits - maxExponentBits)) + 1;
            var boundaries = Linspace(0.1f, 1f, fractionItems);
            // torch multiplies the float32 tensor by the Python float 10**k cast to float32
            float scale = (float)Math.Pow(10, -(maxExponentBits - 1) + i);
            for (int j = 0; j + 1 < boundaries.Length; j++)
            {
                float mean = (boundaries[j] + boundaries[j + 1]) / 2f;
                data.Add(scale * mean);
                data.Add(-scale * mean);
            }
        }
        // additional_items = 2**(7 - 7) - 1 = 0: none
        data.Add(0f);
        data.Add(1f);
        while (data.Count < 256) data.Add(0f);
        var result = data.ToArray();
        Array.Sort(result);
        return result;
    }

    /// <summary>
    /// torch.linspace(start, end, steps, dtype=float32) exactly as PyTorch 1.13's CPU kernel produces it with 8-lane
    /// (AVX2) vectors: the step and each chunk's first value are computed in double (counting up from start in the
    /// first half, down from end in the second) and rounded; the lanes of a vector chunk add k · step in float; the
    /// tail that does not fill two vectors is computed element by element in double.
    /// </summary>
    private static float[] Linspace(float start, float end, int steps)
    {
        const int lanes = 8;
        var r = new float[steps];
        if (steps == 1) { r[0] = start; return r; }
        double step = ((double)end - start) / (steps - 1);
        float stepF = (float)step;
        int half = steps / 2;
        double At(int i) => i < half ? start + step * i : end - step * (steps - i - 1);
        int idx = 0;
        for (; idx <= steps - 2 * lanes; idx += 2 * lanes)
            for (int v = idx; v < idx + 2 * lanes; v += lanes)
            {
                float b = (float)At(v);
                for (int k = 0; k < lanes; k++) r[v + k] = b + k * stepF;
            }
        for (; idx < steps; idx++) r[idx] = (float)At(idx);
        return r;
    }

    /// <summary>bitsandbytes' dQuantize (non-stochastic): a 7-step binary search over the sorted code, then the nearer neighbour by midpoint.</summary>
    public static byte Quantize(ReadOnlySpan<float> code, float x)
    {
        int pivot = 127, upperPivot = 255, lowerPivot = 0;
        float lower = -1f, upper = 1f;
        float val = code[pivot];
        for (int i = 64; i > 0; i >>= 1)
        {
            if (x > val) { lowerPivot = pivot; lower = val; pivot += i; }
            else { upperPivot = pivot; upper = val; pivot -= i; }
            val = code[pivot];
        }
        if (upperPivot == 255) upper = code[upperPivot];
        if (lowerPivot == 0) lower = code[lowerPivot];
        if (x > val)
        {
            float midpoint = (upper + val) * 0.5f;
            return (byte)(x > midpoint ? upperPivot : pivot);
        }
        else
        {
            float midpoint = (lower + val) * 0.5f;
            return (byte)(x < midpoint ? lowerPivot : pivot);
        }
    }

    /// <summary>
    /// quantize_blockwise with the dynamic map: per block the absmax (fp32), codes of x · (1/absmax). Returns the codes
    /// and the per-block absmax.
    /// </summary>
    public static (byte[] Codes, float[] Absmax) QuantizeBlockwise(ReadOnlySpan<float> values, int blockSize, ReadOnlySpan<float> code)
    {
        int blocks = (values.Length + blockSize - 1) / blockSize;
        var codes = new byte[values.Length];
        var absmax = new float[blocks];
        for (int b = 0; b < blocks; b++)
        {
            int s = b * blockSize, e = Math.Min(values.Length, s + blockSize);
            float max = 0f;
            for (int i = s; i < e; i++) max = MathF.Max(max, MathF.Abs(values[i]));
            absmax[b] = max;
            float inv = 1f / max;
            for (int i = s; i < e; i++) codes[i] = Quantize(code, values[i] * inv);
        }
        return (codes, absmax);
    }
}
