namespace FineTuneLab.Trainer.Tensors;

/// <summary>
/// A bump allocator over one memory block (host or device). A run makes one arena per region (parameters,
/// gradients, optimizer state, activations) sized up front by the memory plan; tensors are carved out in order,
/// each 64-byte aligned. The activation arena is rewound with <see cref="Reset"/> (or to a <see cref="Mark"/>) every step.
/// </summary>
public sealed class Arena : IDisposable
{
    private readonly IMemoryBlock _block;
    private readonly bool _ownsBlock;
    private readonly nint _base;
    private long _used;

    /// <summary>An arena over a new zero-filled host buffer of <paramref name="bytes"/>.</summary>
    public Arena(string name, long bytes) : this(name, new NativeBuffer(bytes), ownsBlock: true) { }

    /// <summary>An arena over an existing block (e.g. device memory from a backend); disposes it when <paramref name="ownsBlock"/>.</summary>
    public Arena(string name, IMemoryBlock block, bool ownsBlock)
    {
        Name = name;
        _block = block;
        _ownsBlock = ownsBlock;
        _base = block.Pointer;
        Capacity = block.Bytes;
    }

    public string Name { get; }
    public long Capacity { get; }
    public long Used => _used;
    public long HighWater { get; private set; }
    public MemoryLocation Location => _block.Location;

    /// <summary>Rounds a byte count up to the arena's alignment: what an allocation of that size really takes.</summary>
    public static long Aligned(long bytes) => (bytes + NativeBuffer.Alignment - 1) / NativeBuffer.Alignment * NativeBuffer.Alignment;

    public Tensor Allocate(DType dtype, TensorShape shape)
    {
        var bytes = shape.Count * dtype.SizeOf();
        var start = _used;
        var end = start + Aligned(bytes);
        if (end > Capacity)
            throw new InvalidOperationException(
                $"arena '{Name}' is out of memory: {shape} {dtype} needs {bytes} bytes at offset {start}, capacity {Capacity}");
        _used = end;
        HighWater = Math.Max(HighWater, end);
        return new Tensor(_base + (nint)start, dtype, shape, _block.Location);
    }

    public Tensor Allocate(DType dtype, int d0) => Allocate(dtype, new TensorShape(d0));
    public Tensor Allocate(DType dtype, int d0, int d1) => Allocate(dtype, new TensorShape(d0, d1));
    public Tensor Allocate(DType dtype, int d0, int d1, int d2) => Allocate(dtype, new TensorShape(d0, d1, d2));
    public Tensor Allocate(DType dtype, int d0, int d1, int d2, int d3) => Allocate(dtype, new TensorShape(d0, d1, d2, d3));

    /// <summary>The whole used part of the arena as one flat tensor (e.g. every gradient for the optimizer and clipping).</summary>
    public Tensor UsedAsFlat(DType dtype) =>
        new(_base, dtype, new TensorShape(checked((int)(_used / dtype.SizeOf()))), _block.Location);

    /// <summary>The current fill level, to rewind to later.</summary>
    public long Mark() => _used;

    public void ResetTo(long mark)
    {
        if (mark < 0 || mark > _used)
            throw new ArgumentOutOfRangeException(nameof(mark), $"mark {mark} is not inside arena '{Name}' (used {_used})");
        _used = mark;
    }

    public void Reset() => _used = 0;

    public void Dispose()
    {
        if (_ownsBlock) _block.Dispose();
    }
}
