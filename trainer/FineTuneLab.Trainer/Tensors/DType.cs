namespace FineTuneLab.Trainer.Tensors;

/// <summary>Element types a tensor can hold. <see cref="U8"/> is raw bytes (packed 4-bit weights and the like).</summary>
public enum DType : byte
{
    F32,
    BF16,
    F16,
    /// <summary>32-bit signed integers: token ids, targets, positions, segment ids.</summary>
    I32,
    /// <summary>Raw bytes, e.g. NF4-packed weights (two 4-bit codes per byte).</summary>
    U8,
}

public static class DTypeExtensions
{
    /// <summary>Bytes per element.</summary>
    public static int SizeOf(this DType dtype) => dtype switch
    {
        DType.F32 or DType.I32 => 4,
        DType.BF16 or DType.F16 => 2,
        DType.U8 => 1,
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "unknown dtype"),
    };

    /// <summary>The safetensors / PyTorch name of the type.</summary>
    public static string Name(this DType dtype) => dtype switch
    {
        DType.F32 => "F32",
        DType.BF16 => "BF16",
        DType.F16 => "F16",
        DType.I32 => "I32",
        DType.U8 => "U8",
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "unknown dtype"),
    };
}
