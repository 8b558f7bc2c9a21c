namespace FineTuneLab.Trainer.Export.Gguf;

/// <summary>The type tag of a GGUF metadata value (gguf.h, <c>enum gguf_type</c>).</summary>
public enum GgufValueType : uint
{
    UInt8 = 0, Int8 = 1, UInt16 = 2, Int16 = 3, UInt32 = 4, Int32 = 5, Float32 = 6, Bool = 7, String = 8, Array = 9,
    UInt64 = 10, Int64 = 11, Float64 = 12,
}

/// <summary>The ggml tensor types this writer encodes (ggml.h, <c>enum ggml_type</c>), with their block layout.</summary>
public enum GgmlType : uint
{
    F32 = 0, F16 = 1, Q5_0 = 6, Q8_0 = 8, Q4_K = 12, Q6_K = 14, BF16 = 30,
}

public static class GgmlTypeInfo
{
    /// <summary>Elements per block (1 for plain floats).</summary>
    public static int BlockSize(this GgmlType t) => t switch
    {
        GgmlType.F32 or GgmlType.F16 or GgmlType.BF16 => 1,
        GgmlType.Q5_0 or GgmlType.Q8_0 => 32,
        GgmlType.Q4_K or GgmlType.Q6_K => 256,
        _ => throw new ArgumentOutOfRangeException(nameof(t), t, null),
    };

    /// <summary>Bytes per block: q5_0 is an fp16 scale, 4 bytes of high bits and 16 of nibbles; q8_0 an fp16 scale and 32 int8; q4_K 2+2+12+128; q6_K 128+64+16+2.</summary>
    public static int BlockBytes(this GgmlType t) => t switch
    {
        GgmlType.F32 => 4,
        GgmlType.F16 or GgmlType.BF16 => 2,
        GgmlType.Q5_0 => 22,
        GgmlType.Q8_0 => 34,
        GgmlType.Q4_K => 144,
        GgmlType.Q6_K => 210,
        _ => throw new ArgumentOutOfRangeException(nameof(t), t, null),
    };

    /// <summary>Bytes of one row of <paramref name="n"/> elements (a multiple of the block size).</summary>
    public static long RowBytes(this GgmlType t, long n)
    {
        if (n % t.BlockSize() != 0) throw new ArgumentException($"a {t} row needs a multiple of {t.BlockSize()} elements, got {n}");
        return n / t.BlockSize() * t.BlockBytes();
    }

    public static string Name(this GgmlType t) => t switch
    {
        GgmlType.F32 => "f32", GgmlType.F16 => "f16", GgmlType.BF16 => "bf16", GgmlType.Q5_0 => "q5_0", GgmlType.Q8_0 => "q8_0",
        GgmlType.Q4_K => "q4_K", GgmlType.Q6_K => "q6_K", _ => t.ToString(),
    };
}
