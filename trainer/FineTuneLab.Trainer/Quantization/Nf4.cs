namespace FineTuneLab.Trainer.Quantization;

/// <summary>
/// A tensor quantized to NF4 as bitsandbytes stores it: two 4-bit codes per byte (the first element in the high
/// nibble), one absmax per block of <see cref="BlockSize"/> elements, and — double quantization — those absmax values
/// minus their mean (<see cref="Offset"/>) in 8 bits with the dynamic map, one fp32 scale per block of
/// <see cref="NestedBlockSize"/> absmax values.
/// </summary>
public sealed record Nf4Tensor(long[] Shape, byte[] Packed, byte[] AbsmaxCodes, float[] NestedAbsmax, float[] NestedQuantMap,
    float Offset, int BlockSize, int NestedBlockSize)
{
    public long Count => Shape.Aggregate(1L, (a, b) => a * b);
    public int Blocks => AbsmaxCodes.Length;

    /// <summary>Storage bits per element: 4 + 8/blocksize + 32/(blocksize · nested blocksize) (+ the two code tables).</summary>
    public double BitsPerParameter => 8.0 * (Packed.Length + AbsmaxCodes.Length + 4L * NestedAbsmax.Length) / Count;
}

/// <summary>NF4 quantization and dequantization, bit for bit as bitsandbytes' CUDA kernels compute them.</summary>
public static class Nf4
{
    public const int DefaultBlockSize = 64;
    public const int DefaultNestedBlockSize = 256;

    private static readonly float[] Table =
    [
        -1.0f, -0.6961928009986877f, -0.5250730514526367f, -0.39491748809814453f,
        -0.28444138169288635f, -0.18477343022823334f, -0.09105003625154495f, 0.0f,
        0.07958029955625534f, 0.16093020141124725f, 0.24611230194568634f, 0.33791524171829224f,
        0.44070982933044434f, 0.5626170039176941f, 0.7229568362236023f, 1.0f,
    ];

    /// <summary>The 16 NF4 code values (bitsandbytes <c>get_4bit_type('nf4')</c>).</summary>
    public static ReadOnlySpan<float> CodeValues => Table;

    /// <summary>
    /// bitsandbytes' dQuantizeNF4: a decision tree over the midpoints between neighbouring codes (strictly greater
    /// goes up), on x already scaled by 1/absmax.
    /// </summary>
    public static byte QuantizeValue(float x)
    {
        if (x > 0.03979014977812767f)
        {
            if (x > 0.3893125355243683f)
            {
                if (x > 0.6427869200706482f) return x > 0.8614784181118011f ? (byte)0b1111 : (byte)0b1110;
                return x > 0.5016634166240692f ? (byte)0b1101 : (byte)0b1100;
            }
            if (x > 0.2035212516784668f) return x > 0.2920137718319893f ? (byte)0b1011 : (byte)0b1010;
            return x > 0.1202552504837513f ? (byte)0b1001 : (byte)0b1000;
        }
        if (x > -0.33967943489551544f)
        {
            if (x > -0.13791173323988914f) return x > -0.045525018125772476f ? (byte)0b0111 : (byte)0b0110;
            return x > -0.23460740596055984f ? (byte)0b0101 : (byte)0b0100;
        }
        if (x > -0.6106329262256622f) return x > -0.4599952697753906f ? (byte)0b0011 : (byte)0b0010;
        return x > -0.8480964004993439f ? (byte)0b0001 : (byte)0b0000;
    }

    /// <summary>
    /// quantize_4bit(quant_type='nf4', blocksize, compress_statistics=true): per block absmax = max |x|, codes of
    /// x · (1/absmax); then the absmax values are double-quantized (mean subtracted, 8-bit dynamic map, blocks of
    /// <paramref name="nestedBlockSize"/>). Values are the fp32 widening of the source dtype.
    /// </summary>
    public static Nf4Tensor Quantize(ReadOnlySpan<float> values, long[] shape, int blockSize = DefaultBlockSize, int nestedBlockSize = DefaultNestedBlockSize)
    {
        var (packed, absmax) = QuantizeCodes(values, shape, blockSize);
        return DoubleQuantize(shape, packed, absmax, blockSize, nestedBlockSize);
    }

    /// <summary>The first stage: packed codes and the fp32 absmax of every block.</summary>
    public static (byte[] Packed, float[] Absmax) QuantizeCodes(ReadOnlySpan<float> values, long[] shape, int blockSize = DefaultBlockSize)
    {
        if (blockSize <= 0 || blockSize % 2 != 0) throw new ArgumentOutOfRangeException(nameof(blockSize), blockSize, "NF4 block size must be positive and even");
        long count = shape.Aggregate(1L, (a, b) => a * b);
        if (count != values.Length) throw new ArgumentException($"shape [{string.Join(", ", shape)}] has {count} elements, got {values.Length} values");
        if (values.Length % 2 != 0) throw new ArgumentException($"NF4 packs two codes per byte: {values.Length} elements is odd");
        int n = values.Length, blocks = (n + blockSize - 1) / blockSize;
        var packed = new byte[n / 2];
        var absmax = new float[blocks];
        Span<byte> codes = stackalloc byte[blockSize];
        for (int b = 0; b < blocks; b++)
        {
            int s = b * blockSize, e = Math.Min(n, s + blockSize);
            float max = 0f;
            for (int i = s; i < e; i++) max = MathF.Max(max, MathF.Abs(values[i]));
            absmax[b] = max;
            float inv = 1f / max;
            for (int i = s; i < e; i++) codes[i - s] = QuantizeValue(values[i] * inv);
            for (int i = s; i < e; i += 2) packed[i >> 1] = (byte)((codes[i - s] << 4) | codes[i - s + 1]);
        }
        return (packed, absmax);
    }

    /// <summary>
    /// Double quantization of the absmax values: offset = their mean (unless given), then (absmax - offset) in 8 bits
    /// with the dynamic map, blockwise.
    /// </summary>
    public static Nf4Tensor DoubleQuantize(long[] shape, byte[] packed, float[] absmax, int blockSize, int nestedBlockSize, float? offset = null)
    {
        float off = offset ?? Mean(absmax);
        var centred = new float[absmax.Length];
        for (int i = 0; i < absmax.Length; i++) centred[i] = absmax[i] - off;
        var map = DynamicMap.SignedMap.ToArray();
        var (codes, nested) = DynamicMap.QuantizeBlockwise(centred, nestedBlockSize, map);
        return new Nf4Tensor(shape, packed, codes, nested, map, off, blockSize, nestedBlockSize);
    }

    /// <summary>
    /// The mean of the absmax values, summed in double and rounded. torch.mean sums float32 by a vectorized cascade
    /// whose last bit depends on the CPU's vector width; ours is within one ulp of it, and a saved checkpoint carries
    /// the offset, so a loaded model never recomputes it.
    /// </summary>
    public static float Mean(ReadOnlySpan<float> x)
    {
        double sum = 0;
        foreach (var v in x) sum += v;
        return (float)(sum / x.Length);
    }

    /// <summary>The fp32 absmax of every block: nested_quant_map[code] · nested_absmax[block] + offset (dequantize_blockwise, then += offset).</summary>
    public static float[] DequantizeAbsmax(Nf4Tensor t)
    {
        var result = new float[t.AbsmaxCodes.Length];
        for (int i = 0; i < result.Length; i++)
            result[i] = t.NestedQuantMap[t.AbsmaxCodes[i]] * t.NestedAbsmax[i / t.NestedBlockSize] + t.Offset;
        return result;
    }

    /// <summary>dequantize_4bit to fp32: NF4[code] · absmax[block].</summary>
    public static float[] Dequantize(Nf4Tensor t)
    {
        var absmax = DequantizeAbsmax(t);
        var result = new float[t.Count];
        for (long i = 0; i < result.LongLength; i++)
        {
            int b = t.Packed[i >> 1];
            int code = (i & 1) == 0 ? b >> 4 : b & 0xF;
            result[i] = Table[code] * absmax[i / t.BlockSize];
        }
        return result;
    }
}
