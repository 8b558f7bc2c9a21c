using System.Runtime.CompilerServices;

namespace FineTuneLab.Trainer.Tensors;

/// <summary>bf16 and fp16 conversions with round-to-nearest-even, bit for bit as PyTorch's <c>.to(dtype)</c>.</summary>
public static class HalfConvert
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Bf16ToFloat(ushort bits) => BitConverter.Int32BitsToSingle(bits << 16);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ushort FloatToBf16(float value)
    {
        var bits = BitConverter.SingleToUInt32Bits(value);
        if ((bits & 0x7FFF_FFFF) > 0x7F80_0000)
            return (ushort)((bits >> 16) | 0x0040); // quiet NaN, sign kept (c10::BFloat16 does the same)
        var roundingBias = 0x7FFFu + ((bits >> 16) & 1);
        return (ushort)((bits + roundingBias) >> 16);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float F16ToFloat(ushort bits) => (float)BitConverter.UInt16BitsToHalf(bits);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ushort FloatToF16(float value) => BitConverter.HalfToUInt16Bits((Half)value);

    public static void Bf16ToFloat(ReadOnlySpan<ushort> src, Span<float> dst)
    {
        if (dst.Length < src.Length) throw new ArgumentException("destination shorter than source");
        for (var i = 0; i < src.Length; i++) dst[i] = Bf16ToFloat(src[i]);
    }

    public static void FloatToBf16(ReadOnlySpan<float> src, Span<ushort> dst)
    {
        if (dst.Length < src.Length) throw new ArgumentException("destination shorter than source");
        for (var i = 0; i < src.Length; i++) dst[i] = FloatToBf16(src[i]);
    }

    public static void F16ToFloat(ReadOnlySpan<ushort> src, Span<float> dst)
    {
        if (dst.Length < src.Length) throw new ArgumentException("destination shorter than source");
        for (var i = 0; i < src.Length; i++) dst[i] = F16ToFloat(src[i]);
    }

    public static void FloatToF16(ReadOnlySpan<float> src, Span<ushort> dst)
    {
        if (dst.Length < src.Length) throw new ArgumentException("destination shorter than source");
        for (var i = 0; i < src.Length; i++) dst[i] = FloatToF16(src[i]);
    }
}
