using FineTuneLab.Trainer.Backends.Cuda;

namespace FineTuneLab.Trainer.Tests.Cuda;

/// <summary>The caching allocator's bookkeeping over a fake device: size classes, reuse, peaks, out-of-memory retry.</summary>
public sealed class CudaAllocatorTests
{
    private sealed class FakeDevice(long capacity) : IDeviceMemoryApi
    {
        private ulong _next = 0x7f0000000000;
        public readonly Dictionary<ulong, long> Live = [];
        public int Allocations, Frees;
        public long InUse => Live.Values.Sum();

        public bool TryAllocate(long bytes, out ulong address)
        {
            address = 0;
            if (InUse + bytes > capacity) return false;
            address = _next;
            _next += (ulong)bytes + 4096;
            Live[address] = bytes;
            Allocations++;
            return true;
        }

        public void Free(ulong address)
        {
            Assert.True(Live.Remove(address), $"double or foreign free of {address:x}");
            Frees++;
        }
    }

    [Theory]
    [InlineData(0, 512)]
    [InlineData(1, 512)]
    [InlineData(512, 512)]
    [InlineData(513, 1024)]
    [InlineData(1 << 20, 1 << 20)]
    [InlineData((1 << 20) + 1, 2 << 20)]
    [InlineData((5 << 20) + 7, 6 << 20)]
    public void Requests_round_up_to_their_size_class(long bytes, long expected) =>
        Assert.Equal(expected, CudaAllocator.SizeClass(bytes));

    [Fact]
    public void A_returned_block_is_reused_for_the_same_class_without_a_device_call()
    {
        var device = new FakeDevice(1L << 30);
        using var allocator = new CudaAllocator(device);
        var (a, aBytes) = allocator.Rent(1000);
        allocator.Return(a, aBytes);
        var (b, bBytes) = allocator.Rent(900); // same 1024-byte class
        Assert.Equal(a, b);
        Assert.Equal(1024, bBytes);
        Assert.Equal(1, device.Allocations);
        var (c, _) = allocator.Rent(5000); // another class: a miss
        Assert.NotEqual(a, c);
        Assert.Equal(2, device.Allocations);
        Assert.Equal(2, allocator.Stats.DeviceAllocations);
    }

    [Fact]
    public void Allocated_reserved_and_peaks_follow_rents_and_returns()
    {
        var device = new FakeDevice(1L << 30);
        using var allocator = new CudaAllocator(device);
        var (a, aBytes) = allocator.Rent(3 << 20);   // 4 MiB class
        var (b, bBytes) = allocator.Rent(100);       // 512 B class
        Assert.Equal(new DeviceMemoryStats((4L << 20) + 512, (4L << 20) + 512, (4L << 20) + 512, (4L << 20) + 512, 2), allocator.Stats);
        allocator.Return(a, aBytes);
        var s = allocator.Stats;
        Assert.Equal(512, s.AllocatedBytes);
        Assert.Equal((4L << 20) + 512, s.ReservedBytes); // cached, still held from the device
        Assert.Equal((4L << 20) + 512, s.PeakAllocatedBytes);
        allocator.ResetPeaks();
        Assert.Equal(512, allocator.Stats.PeakAllocatedBytes);
        allocator.ReleaseCached();
        Assert.Equal(512, allocator.Stats.ReservedBytes);
        Assert.Equal(1, device.Frees);
        allocator.Return(b, bBytes);
        Assert.Equal(0, allocator.Stats.AllocatedBytes);
    }

    [Fact]
    public void Out_of_memory_empties_the_cache_and_retries_then_fails_with_a_clear_message()
    {
        var device = new FakeDevice(8L << 20);
        using var allocator = new CudaAllocator(device);
        var (a, aBytes) = allocator.Rent(6 << 20);
        allocator.Return(a, aBytes); // 6 MiB cached
        var (b, _) = allocator.Rent(4 << 20); // needs the cached 6 MiB released first
        Assert.Equal(1, device.Frees);
        Assert.Equal(4L << 20, allocator.Stats.ReservedBytes);
        Assert.NotEqual(0UL, b);
        var e = Assert.Throws<OutOfMemoryException>(() => allocator.Rent(6 << 20));
        Assert.Contains("CUDA device out of memory allocating 6,291,456 bytes", e.Message);
    }

    [Fact]
    public void Dispose_gives_cached_blocks_back_and_later_returns_free_directly()
    {
        var device = new FakeDevice(1L << 30);
        var allocator = new CudaAllocator(device);
        var (a, aBytes) = allocator.Rent(10);
        var (b, bBytes) = allocator.Rent(10);
        allocator.Return(a, aBytes);
        allocator.Dispose();
        Assert.Single(device.Live);
        allocator.Return(b, bBytes);
        Assert.Empty(device.Live);
        Assert.Throws<ObjectDisposedException>(() => allocator.Rent(1));
    }
}
