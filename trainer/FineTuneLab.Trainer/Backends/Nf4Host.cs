using FineTuneLab.Trainer.Quantization;
using FineTuneLab.Trainer.Tensors;

namespace FineTuneLab.Trainer.Backends;

/// <summary>Host-side access to an NF4 matrix held by any backend (load, save and the non-fused GEMM fallback).</summary>
public static class Nf4Host
{
    private static T[] Read<T>(IBackend be, Tensor t) where T : unmanaged
    {
        var result = new T[t.Bytes / System.Runtime.CompilerServices.Unsafe.SizeOf<T>()];
        unsafe
        {
            fixed (T* p = result)
                be.Download(t, new Tensor((nint)p, t.DType, t.Shape));
        }
        return result;
    }

    /// <summary>The matrix (or row slice) dequantized to fp32, [Rows · Cols], exactly as <see cref="Nf4.Dequantize"/>.</summary>
    public static float[] Dequantize(IBackend be, Nf4Matrix m)
    {
        var packed = Read<byte>(be, m.Packed);
        var codes = Read<byte>(be, m.AbsmaxCodes);
        var nested = Read<float>(be, m.NestedAbsmax);
        var map = Read<float>(be, m.QuantMap);
        float offset = Read<float>(be, m.Offset)[0];
        var table = Nf4.CodeValues;
        var result = new float[(long)m.Rows * m.Cols];
        for (long i = 0; i < result.LongLength; i++)
        {
            long e = m.ElementOffset + i;
            long block = e / m.BlockSize;
            float absmax = map[codes[block]] * nested[block / m.NestedBlockSize] + offset;
            int b = packed[e >> 1];
            result[i] = table[(e & 1) == 0 ? b >> 4 : b & 0xF] * absmax;
        }
        return result;
    }
}
