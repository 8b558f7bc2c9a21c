using FineTuneLab.Trainer.Backends.Cuda.Native;

namespace FineTuneLab.Trainer.Backends.Cuda;

/// <summary>cuMemAlloc / cuMemFree in the current context, for <see cref="CudaAllocator"/>.</summary>
internal sealed class CudaDeviceMemory : IDeviceMemoryApi
{
    public bool TryAllocate(long bytes, out ulong address)
    {
        var result = CudaDriver.cuMemAlloc_v2(out address, (nuint)bytes);
        if (result == CUresult.CUDA_ERROR_OUT_OF_MEMORY) return false;
        CudaDriver.Check(result, $"cuMemAlloc({bytes})");
        return true;
    }

    public void Free(ulong address) => CudaDriver.Check(CudaDriver.cuMemFree_v2(address), "cuMemFree");
}
