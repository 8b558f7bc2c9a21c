namespace FineTuneLab.Trainer.Backends.Cpu;

/// <summary>A kernel's work split into numbered items; a struct so dispatch needs no allocation.</summary>
internal interface IParallelBody
{
    void Execute(int item, int thread);
}

internal static unsafe class WorkerPoolExtensions
{
    /// <summary>Elements per work item of elementwise kernels: fixed, so the split never depends on the thread count.</summary>
    public const int ElementChunk = 1 << 15;

    public static void Run<T>(this WorkerPool pool, int count, ref T body) where T : unmanaged, IParallelBody
    {
        fixed (T* p = &body)
            pool.For(count, &Trampoline<T>, p);
    }

    public static int Chunks(long count, int chunk) => (int)((count + chunk - 1) / chunk);

    private static void Trampoline<T>(int item, int thread, void* context) where T : unmanaged, IParallelBody =>
        ((T*)context)->Execute(item, thread);
}
