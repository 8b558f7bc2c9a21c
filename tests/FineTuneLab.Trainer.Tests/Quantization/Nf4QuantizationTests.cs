using FineTuneLab.Trainer.Quantization;

namespace FineTuneLab.Trainer.Tests.Quantization;

/// <summary>Our NF4 quantizer and dequantizer against the PyTorch reference of bitsandbytes' algorithm, bit for bit.</summary>
public sealed class Nf4QuantizationTests(Nf4Reference reference) : IClassFixture<Nf4Reference>
{
    public static TheoryData<string> Cases => new(Nf4Reference.CaseNames);

    [Fact]
    public void Code_tables_match_bitsandbytes()
    {
        Assert.Equal(reference.Floats("nf4_table"), Nf4.CodeValues.ToArray());
        Assert.Equal(reference.Floats("dynamic_map"), DynamicMap.SignedMap.ToArray());
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Quantization_is_bit_exact(string name)
    {
        var q = QuantizeLikeReference(name);
        Assert.Equal(reference.Bytes($"{name}.packed"), q.Packed);
        Assert.Equal(reference.Bytes($"{name}.absmax_codes"), q.AbsmaxCodes);
        Assert.Equal(reference.Floats($"{name}.nested_absmax"), q.NestedAbsmax);
        Assert.Equal(reference.Floats("dynamic_map"), q.NestedQuantMap);
    }

    /// <summary>
    /// Both stages bit for bit; the offset (a float32 mean, whose last bit torch's vectorized sum decides) must be within
    /// one ulp of torch's, and the second stage is then run from torch's offset so that its codes compare exactly.
    /// </summary>
    private Nf4Tensor QuantizeLikeReference(string name)
    {
        var input = reference.Floats($"{name}.input");
        var shape = reference.Shape($"{name}.input");
        var (packed, absmax) = Nf4.QuantizeCodes(input, shape);
        Assert.Equal(reference.Floats($"{name}.absmax"), absmax);
        float refOffset = reference.Floats($"{name}.offset")[0];
        Assert.InRange(Math.Abs(BitConverter.SingleToInt32Bits(Nf4.Mean(absmax)) - BitConverter.SingleToInt32Bits(refOffset)), 0, 1);
        var own = Nf4.Quantize(input, shape);
        Assert.Equal(packed, own.Packed);
        return Nf4.DoubleQuantize(shape, packed, absmax, Nf4.DefaultBlockSize, Nf4.DefaultNestedBlockSize, refOffset);
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Dequantization_is_exact(string name)
    {
        var q = QuantizeLikeReference(name);
        Assert.Equal(reference.Floats($"{name}.absmax_dequantized"), Nf4.DequantizeAbsmax(q));
        Assert.Equal(reference.Floats($"{name}.dequantized"), Nf4.Dequantize(q));
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Error_per_block_is_within_half_the_largest_code_gap(string name)
    {
        var input = reference.Floats($"{name}.input");
        var q = Nf4.Quantize(input, reference.Shape($"{name}.input"));
        var deq = Nf4.Dequantize(q);
        var absmax = Nf4.DequantizeAbsmax(q);
        float maxGap = 0;
        for (int i = 1; i < 16; i++) maxGap = MathF.Max(maxGap, Nf4.CodeValues[i] - Nf4.CodeValues[i - 1]);
        var trueAbsmax = reference.Floats($"{name}.absmax");
        for (int b = 0; b < q.Blocks; b++)
        {
            int s = b * q.BlockSize, e = Math.Min(input.Length, s + q.BlockSize);
            double worst = 0;
            for (int i = s; i < e; i++) worst = Math.Max(worst, Math.Abs(deq[i] - input[i]));
            // half a code gap of the block's scale, plus what the 8-bit absmax rounding moves the largest value
            double bound = 0.5 * maxGap * absmax[b] + Math.Abs(absmax[b] - trueAbsmax[b]) + 1e-7;
            Assert.True(worst <= bound, $"{name} block {b}: max error {worst:G4} > {bound:G4}");
        }
    }

    [Fact]
    public void Storage_is_about_4_13_bits_per_parameter()
    {
        var q = Nf4.Quantize(reference.Floats("big.input"), reference.Shape("big.input"));
        Assert.InRange(q.BitsPerParameter, 4.125, 4.135);
    }
}
