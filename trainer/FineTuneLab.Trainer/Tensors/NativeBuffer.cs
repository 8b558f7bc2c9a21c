using System.Runtime.InteropServices;

namespace FineTuneLab.Trainer.Tensors;

/// <summary>
/// A zero-filled, 64-byte aligned block of host memory outside the GC heap. The big buffers of a run
/// (parameters, gradients, optimizer state, activations) are a few of these, allocated once up front.
/// </summary>
public sealed unsafe class NativeBuffer : IMemoryBlock
{
    public const int Alignment = 64;

    private void* _pointer;

    public NativeBuffer(long bytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(bytes);
        Bytes = bytes;
        // AlignedAlloc(0) may return null; keep a real allocation so Pointer is always valid.
        var size = (nuint)Math.Max(bytes, Alignment);
        _pointer = NativeMemory.AlignedAlloc(size, Alignment);
        if (_pointer is null)
            throw new OutOfMemoryException($"could not allocate {bytes} bytes of host memory");
        NativeMemory.Clear(_pointer, size);
    }

    public nint Pointer
    {
        get
        {
            ObjectDisposedException.ThrowIf(_pointer is null, this);
            return (nint)_pointer;
        }
    }

    public long Bytes { get; }

    public MemoryLocation Location => MemoryLocation.Host;

    /// <summary>A tensor over the whole buffer (or its first elements).</summary>
    public Tensor AsTensor(DType dtype, TensorShape shape)
    {
        var needed = shape.Count * dtype.SizeOf();
        if (needed > Bytes)
            throw new ArgumentException($"shape {shape} of {dtype} needs {needed} bytes, buffer has {Bytes}");
        return new Tensor(Pointer, dtype, shape, MemoryLocation.Host);
    }

    public void Dispose()
    {
        if (_pointer is not null)
        {
            NativeMemory.AlignedFree(_pointer);
            _pointer = null;
        }
    }
}
