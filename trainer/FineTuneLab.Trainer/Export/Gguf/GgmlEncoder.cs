using System.Buffers.Binary;
using FineTuneLab.Trainer.Tensors;

namespace FineTuneLab.Trainer.Export.Gguf;

/// <summary>
/// Encodes float rows into ggml tensor bytes, bit for bit as ggml's reference encoders: f16 and bf16 round to
/// nearest even (ggml_fp32_to_fp16_row, ggml_fp32_to_bf16_row_ref: NaN kept quiet), q8_0 as quantize_row_q8_0_ref
/// (per 32 values d = amax/127 stored as f16, q = roundf(x / d), halves away from zero), q5_0 as
/// quantize_row_q5_0_ref (llama-quantize's q4_K fallback for short rows), q4_K and q6_K as
/// <see cref="KQuants"/>.
/// </summary>
public static class GgmlEncoder
{
    /// <summary>The bytes of <paramref name="values"/> (row-major, rows of <paramref name="rowLength"/>) as <paramref name="type"/>.</summary>
    public static byte[] Encode(GgmlType type, ReadOnlySpan<float> values, long rowLength)
    {
        if (values.Length % rowLength != 0) throw new ArgumentException($"{values.Length} values are not whole rows of {rowLength}");
        long rows = values.Length / rowLength;
        var bytes = new byte[type.RowBytes(rowLength) * rows];
        var dst = bytes.AsSpan();
        switch (type)
        {
            case GgmlType.F32:
                for (int i = 0; i < values.Length; i++) BinaryPrimitives.WriteSingleLittleEndian(dst[(4 * i)..], values[i]);
                break;
            case GgmlType.F16:
                for (int i = 0; i < values.Length; i++) BinaryPrimitives.WriteUInt16LittleEndian(dst[(2 * i)..], HalfConvert.FloatToF16(values[i]));
                break;
            case GgmlType.BF16:
                for (int i = 0; i < values.Length; i++) BinaryPrimitives.WriteUInt16LittleEndian(dst[(2 * i)..], HalfConvert.FloatToBf16(values[i]));
                break;
            case GgmlType.Q8_0:
                for (int b = 0; b < values.Length / 32; b++) Q8_0Block(values.Slice(32 * b, 32), dst.Slice(34 * b, 34));
                break;
            case GgmlType.Q5_0:
                for (int b = 0; b < values.Length / 32; b++) Q5_0Block(values.Slice(32 * b, 32), dst.Slice(22 * b, 22));
                break;
            case GgmlType.Q4_K:
                for (int b = 0; b < values.Length / 256; b++) KQuants.Q4KBlock(values.Slice(256 * b, 256), dst.Slice(144 * b, 144));
                break;
            case GgmlType.Q6_K:
                for (int b = 0; b < values.Length / 256; b++) KQuants.Q6KBlock(values.Slice(256 * b, 256), dst.Slice(210 * b, 210));
                break;
            default: throw new NotSupportedException($"encoding {type}");
        }
        return bytes;
    }

    /// <summary>quantize_row_q5_0_ref: d = (the value of largest magnitude) / -16, codes (int8)(x/d + 16.5) capped at 31, the fifth bits in qh.</summary>
    private static void Q5_0Block(ReadOnlySpan<float> x, Span<byte> y)
    {
        float amax = 0, max = 0;
        foreach (var v in x)
            if (amax < MathF.Abs(v)) { amax = MathF.Abs(v); max = v; }
        float d = max / -16;
        float id = d != 0 ? 1f / d : 0f;
        BinaryPrimitives.WriteUInt16LittleEndian(y, HalfConvert.FloatToF16(d));
        uint qh = 0;
        for (int j = 0; j < 16; j++)
        {
            byte xi0 = (byte)Math.Min(31, (int)(sbyte)(x[j] * id + 16.5f));
            byte xi1 = (byte)Math.Min(31, (int)(sbyte)(x[j + 16] * id + 16.5f));
            y[6 + j] = (byte)((xi0 & 0x0F) | ((xi1 & 0x0F) << 4));
            qh |= (uint)((xi0 & 0x10) >> 4) << j;
            qh |= (uint)((xi1 & 0x10) >> 4) << (j + 16);
        }
        BinaryPrimitives.WriteUInt32LittleEndian(y[2..], qh);
    }

    private static void Q8_0Block(ReadOnlySpan<float> x, Span<byte> y)
    {
        float amax = 0;
        foreach (var v in x) amax = MathF.Max(amax, MathF.Abs(v));
        float d = amax / 127f;
        float id = d != 0 ? 1f / d : 0f;
        BinaryPrimitives.WriteUInt16LittleEndian(y, HalfConvert.FloatToF16(d));
        for (int j = 0; j < 32; j++) y[2 + j] = (byte)(sbyte)MathF.Round(x[j] * id, MidpointRounding.AwayFromZero);
    }
}
