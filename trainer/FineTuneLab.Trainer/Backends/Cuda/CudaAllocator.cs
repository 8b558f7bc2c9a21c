using FineTuneLab.Trainer.Tensors;

namespace FineTuneLab.Trainer.Backends.Cuda;

/// <summary>Byte counts of the caching allocator, for the trainer's memory events.</summary>
/// <param name="AllocatedBytes">Bytes in blocks handed out and not yet returned (rounded to their size class).</param>
/// <param name="ReservedBytes">Bytes held from the device: handed out plus cached for reuse.</param>
/// <param name="PeakAllocatedBytes">Highest <paramref name="AllocatedBytes"/> since creation or the last reset.</param>
/// <param name="PeakReservedBytes">Highest <paramref name="ReservedBytes"/> since creation or the last reset.</param>
/// <param name="DeviceAllocations">How many times the device allocator was called (cache misses).</param>
public readonly record struct DeviceMemoryStats(long AllocatedBytes, long ReservedBytes, long PeakAllocatedBytes, long PeakReservedBytes,
    long DeviceAllocations);

/// <summary>
/// A caching device allocator: requests are rounded up to a size class (512 B steps up to 1 MiB, 2 MiB steps above),
/// returned blocks go onto that class's free list, and the device is only asked on a miss. When the device is out of
/// memory the cache is released and the request retried once. One stream means stream order makes reuse safe: work
/// queued on a block before it was returned runs before any work queued by its next owner.
/// </summary>
public sealed class CudaAllocator(IDeviceMemoryApi device) : IDisposable
{
    public const long SmallStep = 512;
    public const long LargeStep = 2L << 20;
    public const long SmallLimit = 1L << 20;

    private readonly Dictionary<long, Stack<ulong>> _free = [];
    private readonly Lock _gate = new();
    private long _allocated, _reserved, _peakAllocated, _peakReserved, _deviceAllocations;
    private bool _disposed;

    /// <summary>The size class a request of <paramref name="bytes"/> is served from.</summary>
    public static long SizeClass(long bytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(bytes);
        var b = Math.Max(bytes, 1);
        var step = b <= SmallLimit ? SmallStep : LargeStep;
        return (b + step - 1) / step * step;
    }

    public DeviceMemoryStats Stats
    {
        get { lock (_gate) return new(_allocated, _reserved, _peakAllocated, _peakReserved, _deviceAllocations); }
    }

    /// <summary>Starts a new peak window (e.g. per training step).</summary>
    public void ResetPeaks()
    {
        lock (_gate) { _peakAllocated = _allocated; _peakReserved = _reserved; }
    }

    /// <summary>A block of at least <paramref name="bytes"/> (contents undefined); return it with <see cref="Return"/>.</summary>
    public (ulong Address, long Bytes) Rent(long bytes)
    {
        var size = SizeClass(bytes);
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (!_free.TryGetValue(size, out var list) || !list.TryPop(out var address))
            {
                if (!device.TryAllocate(size, out address))
                {
                    ReleaseCachedLocked();
                    if (!device.TryAllocate(size, out address))
                        throw new OutOfMemoryException(
                            $"CUDA device out of memory allocating {size:N0} bytes ({_allocated:N0} bytes in use by this process); " +
                            "lower the micro-batch size or sequence length, or enable gradient checkpointing");
                }
                _deviceAllocations++;
                _reserved += size;
                _peakReserved = Math.Max(_peakReserved, _reserved);
            }
            _allocated += size;
            _peakAllocated = Math.Max(_peakAllocated, _allocated);
            return (address, size);
        }
    }

    public void Return(ulong address, long sizeClassBytes)
    {
        lock (_gate)
        {
            _allocated -= sizeClassBytes;
            if (_disposed)
            {
                device.Free(address);
                _reserved -= sizeClassBytes;
                return;
            }
            if (!_free.TryGetValue(sizeClassBytes, out var list))
                _free[sizeClassBytes] = list = new Stack<ulong>();
            list.Push(address);
        }
    }

    /// <summary>Gives every cached (not handed-out) block back to the device.</summary>
    public void ReleaseCached()
    {
        lock (_gate) ReleaseCachedLocked();
    }

    private void ReleaseCachedLocked()
    {
        foreach (var (size, list) in _free)
        {
            while (list.TryPop(out var address))
            {
                device.Free(address);
                _reserved -= size;
            }
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            if (_disposed) return;
            ReleaseCachedLocked();
            _disposed = true;
        }
    }
}

/// <summary>Device memory rented from a <see cref="CudaAllocator"/>; disposing returns it to the cache.</summary>
public sealed class CudaMemoryBlock : IMemoryBlock
{
    private readonly CudaAllocator _allocator;
    private readonly long _classBytes;
    private int _returned;

    internal CudaMemoryBlock(CudaAllocator allocator, ulong address, long bytes, long classBytes)
    {
        _allocator = allocator;
        Pointer = (nint)address;
        Bytes = bytes;
        _classBytes = classBytes;
    }

    public nint Pointer { get; }
    public long Bytes { get; }
    public MemoryLocation Location => MemoryLocation.Cuda;

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _returned, 1) == 0)
            _allocator.Return((ulong)Pointer, _classBytes);
    }
}
