namespace FineTuneLab.Trainer.Formats;

/// <summary>The element types a safetensors header may name (the reference implementation's spelling).</summary>
public enum SafeTensorDType
{
    F64, F32, F16, BF16, I64, I32, I16, I8, U8, U16, U32, U64, BOOL, F8_E4M3, F8_E5M2,
}

public static class SafeTensorDTypes
{
    public static int ElementSize(this SafeTensorDType dtype) => dtype switch
    {
        SafeTensorDType.F64 or SafeTensorDType.I64 or SafeTensorDType.U64 => 8,
        SafeTensorDType.F32 or SafeTensorDType.I32 or SafeTensorDType.U32 => 4,
        SafeTensorDType.F16 or SafeTensorDType.BF16 or SafeTensorDType.I16 or SafeTensorDType.U16 => 2,
        _ => 1,
    };

    public static bool TryParse(string text, out SafeTensorDType dtype) =>
        Enum.TryParse(text, ignoreCase: false, out dtype) && Enum.IsDefined(dtype);
}
