using FineTuneLab.Trainer.Export.Gguf;
using FineTuneLab.Trainer.Models;

namespace FineTuneLab.Trainer.Tests.Export.Gguf;

/// <summary>Our tensor encoders must produce ggml's bytes exactly (ggml_quantize_chunk from llama.cpp's own libggml-base).</summary>
public sealed class GgmlEncoderTests
{
    /// <summary>Rows with the awkward cases: an all-zero block, halfway values, tiny and huge magnitudes, negative extremes.</summary>
    private static float[] Rows(int rows, int cols, ulong seed)
    {
        var rng = new SplitMix64(seed);
        var v = new float[rows * cols];
        for (int i = 0; i < v.Length; i++) v[i] = rng.Uniform(-1f, 1f) * MathF.Pow(10, rng.Uniform(-3f, 2f));
        Array.Clear(v, 0, Math.Min(32, v.Length));                  // a zero block (scale 0)
        for (int i = 32; i < 64 && i < v.Length; i++) v[i] = (i - 48) * 0.5f; // exact halves after scaling
        for (int i = 64; i < 96 && i < v.Length; i++) v[i] = 1e-8f * (i - 80); // subnormal f16 scale
        if (v.Length > 100) { v[97] = 65504f; v[98] = -70000f; v[99] = 3.0e-39f; }
        return v;
    }

    [Theory]
    [InlineData(GgmlType.F16)]
    [InlineData(GgmlType.BF16)]
    [InlineData(GgmlType.Q8_0)]
    [InlineData(GgmlType.Q4_K)]
    [InlineData(GgmlType.Q6_K)]
    public void Bytes_equal_ggml_quantize_chunk(GgmlType type)
    {
        foreach (var (rows, cols, seed) in new[] { (3, 256, 1UL), (5, 512, 2UL), (1, 4096, 3UL) }.Where(s => s.Item2 % type.BlockSize() == 0).Concat(type.BlockSize() == 32 ? [(5, 96, 4UL)] : []))
        {
            var values = Rows(rows, cols, seed);
            var ours = GgmlEncoder.Encode(type, values, cols);
            var ggml = GgmlNative.Quantize((int)type, values, cols);
            Assert.Equal(ggml.Length, ours.Length);
            for (int i = 0; i < ours.Length; i++)
                if (ours[i] != ggml[i]) Assert.Fail($"{type} [{rows}x{cols}]: byte {i} is {ours[i]:x2}, ggml wrote {ggml[i]:x2}");
        }
    }
}
