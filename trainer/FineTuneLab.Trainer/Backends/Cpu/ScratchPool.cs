using FineTuneLab.Trainer.Tensors;

namespace FineTuneLab.Trainer.Backends.Cpu;

/// <summary>
/// Kernel scratch memory owned by the backend: one shared block and one block per thread, each grown only when a
/// larger size is first asked for (the first step), so the step loop itself does not allocate.
/// </summary>
internal sealed unsafe class ScratchPool : IDisposable
{
    private NativeBuffer? _shared;
    private NativeBuffer? _sharedInts;
    private readonly NativeBuffer?[] _perThread;

    public ScratchPool(int threads) => _perThread = new NativeBuffer?[threads];

    /// <summary>At least <paramref name="bytes"/> of shared scratch (contents undefined). Call only outside parallel regions.</summary>
    public void* Shared(long bytes) => Ensure(ref _shared, bytes);

    /// <summary>A second shared block, for index arrays that live beside <see cref="Shared"/> data.</summary>
    public int* SharedInts(long count) => (int*)Ensure(ref _sharedInts, count * sizeof(int));

    /// <summary>
    /// Makes sure each thread's block holds at least <paramref name="bytes"/>; call before a parallel region,
    /// then hand the blocks to the kernel with <see cref="ThreadBlocks"/>.
    /// </summary>
    public void ReservePerThread(long bytes)
    {
        for (var i = 0; i < _perThread.Length; i++) Ensure(ref _perThread[i], bytes);
    }

    /// <summary>Writes each thread's block address into <paramref name="blocks"/> (length = thread count) for an unmanaged kernel body.</summary>
    public void ThreadBlocks(void** blocks)
    {
        for (var i = 0; i < _perThread.Length; i++) blocks[i] = (void*)_perThread[i]!.Pointer;
    }

    public int Threads => _perThread.Length;

    private static void* Ensure(ref NativeBuffer? buffer, long bytes)
    {
        if (buffer is null || buffer.Bytes < bytes)
        {
            buffer?.Dispose();
            buffer = new NativeBuffer(Math.Max(bytes, 4096));
        }
        return (void*)buffer.Pointer;
    }

    public void Dispose()
    {
        _shared?.Dispose();
        _sharedInts?.Dispose();
        foreach (var b in _perThread) b?.Dispose();
    }
}
