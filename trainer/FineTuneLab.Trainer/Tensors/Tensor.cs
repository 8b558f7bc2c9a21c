using System.Runtime.CompilerServices;

namespace FineTuneLab.Trainer.Tensors;

/// <summary>
/// A view of contiguous, row-major memory: a pointer (host or device, see <see cref="Location"/>), a dtype and a
/// shape of up to 4 dimensions. Tensors own nothing; the buffers and arenas they point into do. A plain unmanaged
/// value, so kernels can take it by value and pass it across threads without allocation.
/// </summary>
public readonly unsafe struct Tensor
{
    public Tensor(nint data, DType dtype, TensorShape shape, MemoryLocation location = MemoryLocation.Host)
    {
        Data = data;
        DType = dtype;
        Shape = shape;
        Location = location;
    }

    /// <summary>Address of the first element.</summary>
    public nint Data { get; }
    public DType DType { get; }
    public TensorShape Shape { get; }
    public MemoryLocation Location { get; }

    public bool IsEmpty => Data == 0;
    public int Rank => Shape.Rank;
    public long Count => Shape.Count;
    public long Bytes => Shape.Count * DType.SizeOf();
    public int Dim(int axis) => Shape[axis];

    /// <summary>The same memory with another shape of the same element count.</summary>
    public Tensor Reshape(TensorShape shape)
    {
        if (shape.Count != Count)
            throw new ArgumentException($"cannot reshape {Shape} ({Count} elements) to {shape} ({shape.Count} elements)");
        return new Tensor(Data, DType, shape, Location);
    }

    public Tensor Reshape(int d0) => Reshape(new TensorShape(d0));
    public Tensor Reshape(int d0, int d1) => Reshape(new TensorShape(d0, d1));
    public Tensor Reshape(int d0, int d1, int d2) => Reshape(new TensorShape(d0, d1, d2));
    public Tensor Reshape(int d0, int d1, int d2, int d3) => Reshape(new TensorShape(d0, d1, d2, d3));

    /// <summary>The tensor seen as a [rows, last] matrix (all leading dimensions merged).</summary>
    public Tensor As2D() => Rank == 2 ? this : Reshape(new TensorShape(checked((int)Shape.Rows), Shape.Last));

    /// <summary>Rows [start, start+count) along the first dimension.</summary>
    public Tensor Slice(int start, int count)
    {
        var d0 = Shape[0];
        if (start < 0 || count < 0 || start + count > d0)
            throw new ArgumentOutOfRangeException(nameof(start), $"slice [{start}, {start + count}) outside dimension 0 of {Shape}");
        var rowElements = d0 == 0 ? 0 : Count / d0;
        return new Tensor(Data + (nint)(start * rowElements * DType.SizeOf()), DType, Shape.WithFirst(count), Location);
    }

    /// <summary>A view of <paramref name="shape"/> starting <paramref name="elementOffset"/> elements in (a flat region carved up).</summary>
    public Tensor View(long elementOffset, TensorShape shape)
    {
        if (elementOffset < 0 || elementOffset + shape.Count > Count)
            throw new ArgumentOutOfRangeException(nameof(elementOffset), $"view of {shape} at {elementOffset} exceeds {Shape}");
        return new Tensor(Data + (nint)(elementOffset * DType.SizeOf()), DType, shape, Location);
    }

    /// <summary>The same memory reinterpreted as another dtype of the same byte size (e.g. bf16 weights as raw u16).</summary>
    public Tensor WithDType(DType dtype, TensorShape shape)
    {
        if (shape.Count * dtype.SizeOf() != Bytes)
            throw new ArgumentException($"{shape} of {dtype} does not cover the {Bytes} bytes of {Shape} {DType}");
        return new Tensor(Data, dtype, shape, Location);
    }

    public Span<float> AsFloat() => AsSpan<float>(DType.F32);
    public Span<int> AsInt32() => AsSpan<int>(DType.I32);
    /// <summary>bf16 or fp16 elements as raw 16-bit patterns (see <see cref="HalfConvert"/>).</summary>
    public Span<ushort> AsHalfBits()
    {
        if (DType is not (DType.BF16 or DType.F16))
            throw new InvalidOperationException($"tensor of {DType} is not a 16-bit float tensor");
        return HostSpan<ushort>();
    }
    public Span<byte> AsBytes() => HostSpan<byte>(Bytes);

    private Span<T> AsSpan<T>(DType expected) where T : unmanaged
    {
        if (DType != expected)
            throw new InvalidOperationException($"tensor {Shape} is {DType}, not {expected}");
        return HostSpan<T>();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private Span<T> HostSpan<T>(long? length = null) where T : unmanaged
    {
        if (Location != MemoryLocation.Host)
            throw new InvalidOperationException($"tensor {Shape} lives on {Location}; only host tensors can be read as spans");
        return new Span<T>((void*)Data, checked((int)(length ?? Count)));
    }

    /// <summary>Typed pointer for kernels (host or device address).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public T* Ptr<T>() where T : unmanaged => (T*)Data;

    public override string ToString() => $"Tensor({DType} {Shape} @{Location})";
}
