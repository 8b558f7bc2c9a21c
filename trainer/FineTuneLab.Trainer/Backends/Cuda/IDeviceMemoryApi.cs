namespace FineTuneLab.Trainer.Backends.Cuda;

/// <summary>
/// The raw device allocation calls the caching allocator sits on (cuMemAlloc / cuMemFree in the backend, a fake in the
/// allocator's tests). <see cref="TryAllocate"/> returns false on out-of-memory so the allocator can empty its cache
/// and retry before giving up.
/// </summary>
public interface IDeviceMemoryApi
{
    bool TryAllocate(long bytes, out ulong address);
    void Free(ulong address);
}
