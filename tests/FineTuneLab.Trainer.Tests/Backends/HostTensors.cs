using FineTuneLab.Trainer.Tensors;

namespace FineTuneLab.Trainer.Tests.Backends;

/// <summary>Host tensors for tests, each in its own buffer, all freed together.</summary>
public sealed class HostTensors : IDisposable
{
    private readonly List<NativeBuffer> _buffers = [];

    public Tensor New(DType dtype, params int[] shape)
    {
        var s = TensorShape.Of(shape);
        var buffer = new NativeBuffer(s.Count * dtype.SizeOf());
        _buffers.Add(buffer);
        return buffer.AsTensor(dtype, s);
    }

    public Tensor F32(float[] values, params int[] shape)
    {
        var t = New(DType.F32, shape.Length == 0 ? [values.Length] : shape);
        values.CopyTo(t.AsFloat());
        return t;
    }

    public Tensor I32(int[] values, params int[] shape)
    {
        var t = New(DType.I32, shape.Length == 0 ? [values.Length] : shape);
        values.CopyTo(t.AsInt32());
        return t;
    }

    public Tensor Half(DType dtype, ushort[] bits, params int[] shape)
    {
        var t = New(dtype, shape.Length == 0 ? [bits.Length] : shape);
        bits.CopyTo(t.AsHalfBits());
        return t;
    }

    /// <summary>Reference tensor of a torch case as a host tensor of its dtype (u16 as <paramref name="halfType"/>).</summary>
    public Tensor FromReference(TorchOpsReference r, string caseName, string name, DType halfType = DType.BF16)
    {
        var e = r.Get(caseName, name);
        return e.DType switch
        {
            "f32" => F32(r.F32(caseName, name), e.Shape),
            "i32" => I32(r.I32(caseName, name), e.Shape),
            _ => Half(halfType, r.U16(caseName, name), e.Shape),
        };
    }

    public void Dispose()
    {
        foreach (var b in _buffers) b.Dispose();
    }
}
