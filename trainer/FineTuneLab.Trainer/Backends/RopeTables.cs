using FineTuneLab.Trainer.Tensors;

namespace FineTuneLab.Trainer.Backends;

/// <summary>
/// The cos/sin tables rotary embedding reads, computed as Hugging Face's LlamaRotaryEmbedding does in float32:
/// inv_freq[i] = 1 / theta^(2i/D) (then rope scaling), freqs = position * inv_freq, emb = cat(freqs, freqs).
/// </summary>
public static class RopeTables
{
    /// <summary>inv_freq [D/2] for a head dimension, base theta and optional scaling, in float32 like PyTorch.</summary>
    public static float[] InverseFrequencies(int headDim, double theta, RopeScaling? scaling)
    {
        if (headDim <= 0 || headDim % 2 != 0)
            throw new ArgumentOutOfRangeException(nameof(headDim), headDim, "rotary head dimension must be positive and even");
        var half = headDim / 2;
        var inv = new float[half];
        var baseF = (float)theta;
        for (var i = 0; i < half; i++)
            inv[i] = 1f / MathF.Pow(baseF, (2 * i) / (float)headDim);

        switch (scaling)
        {
            case null:
                break;
            case RopeScaling.Linear linear:
                for (var i = 0; i < half; i++) inv[i] = (float)(inv[i] / linear.Factor);
                break;
            case RopeScaling.Llama3 l3:
                ApplyLlama3(inv, l3);
                break;
            case RopeScaling.LongRope longRope:
                if (longRope.ExtFactors.Count != half)
                    throw new ArgumentException($"longrope has {longRope.ExtFactors.Count} factors for {half} rotary frequencies");
                // transformers: 1.0 / (ext_factors * base ** (arange(0, dim, 2) / dim)), float32
                for (var i = 0; i < half; i++)
                    inv[i] = 1f / ((float)longRope.ExtFactors[i] * MathF.Pow(baseF, (2 * i) / (float)headDim));
                break;
            default:
                throw new NotSupportedException($"rope scaling {scaling.GetType().Name} is not supported");
        }
        return inv;
    }

    // transformers' _compute_llama3_parameters, elementwise in float32 with python-float constants.
    private static void ApplyLlama3(float[] inv, RopeScaling.Llama3 s)
    {
        var factor = (float)s.Factor;
        var lowFreqWavelen = (float)(s.OriginalMaxPositionEmbeddings / s.LowFreqFactor);
        var highFreqWavelen = (float)(s.OriginalMaxPositionEmbeddings / s.HighFreqFactor);
        for (var i = 0; i < inv.Length; i++)
        {
            var f = inv[i];
            var wavelen = (float)(2 * Math.PI) / f;
            var scaled = wavelen > lowFreqWavelen ? f / factor : f;
            var smooth = ((float)s.OriginalMaxPositionEmbeddings / wavelen - (float)s.LowFreqFactor) /
                         (float)(s.HighFreqFactor - s.LowFreqFactor);
            var smoothed = (1f - smooth) * scaled / factor + smooth * scaled;
            var isMedium = !(wavelen < highFreqWavelen) && !(wavelen > lowFreqWavelen);
            inv[i] = isMedium ? smoothed : scaled;
        }
    }

    /// <summary>Fills host tensors cos and sin, F32 [maxPositions, D], with the tables for positions 0..maxPositions-1.</summary>
    public static void Fill(Tensor cos, Tensor sin, double theta, RopeScaling? scaling, float attentionScaling = 1f)
    {
        if (cos.Rank != 2 || sin.Shape != cos.Shape)
            throw new ArgumentException($"cos {cos.Shape} and sin {sin.Shape} must both be [maxPositions, headDim]");
        var positions = cos.Dim(0);
        var headDim = cos.Dim(1);
        var inv = InverseFrequencies(headDim, theta, scaling);
        var half = headDim / 2;
        var c = cos.AsFloat();
        var s = sin.AsFloat();
        for (var p = 0; p < positions; p++)
        {
            var row = p * headDim;
            for (var i = 0; i < half; i++)
            {
                var freq = p * inv[i];
                var cv = MathF.Cos(freq) * attentionScaling;
                var sv = MathF.Sin(freq) * attentionScaling;
                c[row + i] = cv; c[row + half + i] = cv;
                s[row + i] = sv; s[row + half + i] = sv;
            }
        }
    }
}
