using System.Numerics.Tensors;
using System.Runtime.InteropServices;

namespace FineTuneLab.Trainer.Formats;

/// <summary>Stored element types to fp32 and back (bf16 by truncating the low 16 bits after round-to-nearest-even).</summary>
public static unsafe class ElementConversion
{
    public static void ToFloat32(SafeTensorDType dtype, byte* source, Span<float> destination, string what)
    {
        int n = destination.Length;
        switch (dtype)
        {
            case SafeTensorDType.F32:
                new ReadOnlySpan<float>(source, n).CopyTo(destination);
                break;
            case SafeTensorDType.BF16:
                BFloat16ToFloat32(new ReadOnlySpan<ushort>(source, n), destination);
                break;
            case SafeTensorDType.F16:
                TensorPrimitives.ConvertToSingle(new ReadOnlySpan<Half>(source, n), destination);
                break;
            case SafeTensorDType.F64:
                var d = new ReadOnlySpan<double>(source, n);
                for (int i = 0; i < n; i++) destination[i] = (float)d[i];
                break;
            default:
                throw new SafeTensorsFormatException($"{what}: dtype {dtype} is not a floating-point type");
        }
    }

    public static void BFloat16ToFloat32(ReadOnlySpan<ushort> source, Span<float> destination)
    {
        var bits = MemoryMarshal.Cast<float, uint>(destination);
        for (int i = 0; i < source.Length; i++) bits[i] = (uint)source[i] << 16;
    }

    public static ushort Float32ToBFloat16(float value)
    {
        uint bits = BitConverter.SingleToUInt32Bits(value);
        if (float.IsNaN(value)) return (ushort)((bits >> 16) | 0x40);
        uint rounding = 0x7FFF + ((bits >> 16) & 1);
        return (ushort)((bits + rounding) >> 16);
    }

    public static void Float32ToBFloat16(ReadOnlySpan<float> source, Span<ushort> destination)
    {
        for (int i = 0; i < source.Length; i++) destination[i] = Float32ToBFloat16(source[i]);
    }
}
