using FineTuneLab.Trainer.Backends;
using FineTuneLab.Trainer.Tensors;

namespace FineTuneLab.Trainer.Quantization;

/// <summary>Moves a quantized tensor into an engine's NF4 matrix (backend memory) and back.</summary>
public static class Nf4Weights
{
    public static unsafe void Write(IBackend be, Nf4Matrix m, Nf4Tensor t)
    {
        if (t.Count != (long)m.Rows * m.Cols || t.Packed.Length != m.Packed.Count || t.AbsmaxCodes.Length != m.AbsmaxCodes.Count
            || t.NestedAbsmax.Length != m.NestedAbsmax.Count || t.NestedQuantMap.Length != m.QuantMap.Count
            || t.BlockSize != m.BlockSize || t.NestedBlockSize != m.NestedBlockSize)
            throw new ArgumentException($"NF4 tensor [{string.Join(", ", t.Shape)}] does not fit the engine's [{m.Rows}, {m.Cols}] matrix");
        fixed (byte* p = t.Packed) be.Upload(new Tensor((nint)p, DType.U8, m.Packed.Shape), m.Packed);
        fixed (byte* p = t.AbsmaxCodes) be.Upload(new Tensor((nint)p, DType.U8, m.AbsmaxCodes.Shape), m.AbsmaxCodes);
        fixed (float* p = t.NestedAbsmax) be.Upload(new Tensor((nint)p, DType.F32, m.NestedAbsmax.Shape), m.NestedAbsmax);
        fixed (float* p = t.NestedQuantMap) be.Upload(new Tensor((nint)p, DType.F32, m.QuantMap.Shape), m.QuantMap);
        float offset = t.Offset;
        be.Upload(new Tensor((nint)(&offset), DType.F32, m.Offset.Shape), m.Offset);
    }
}
