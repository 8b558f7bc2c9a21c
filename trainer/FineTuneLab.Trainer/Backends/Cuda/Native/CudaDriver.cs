using System.Runtime.InteropServices;

namespace FineTuneLab.Trainer.Backends.Cuda.Native;

/// <summary>
/// The CUDA driver API (libcuda.so.1), bound by hand from CUDA 11.8's cuda.h. Entry points are the exported names the
/// header maps its public names to (cuMemAlloc → cuMemAlloc_v2 and so on); handles (CUcontext, CUstream, CUevent,
/// CUmodule, CUfunction) are opaque pointers, CUdeviceptr is a 64-bit integer, CUdevice an int.
/// </summary>
internal static unsafe partial class CudaDriver
{
    static CudaDriver() => NvidiaLibraries.EnsureResolverInstalled();

    private const string Lib = NvidiaLibraries.Cuda;

    [LibraryImport(Lib, EntryPoint = "cuInit")]
    public static partial CUresult cuInit(uint flags);

    [LibraryImport(Lib, EntryPoint = "cuDriverGetVersion")]
    public static partial CUresult cuDriverGetVersion(out int driverVersion);

    [LibraryImport(Lib, EntryPoint = "cuGetErrorName")]
    public static partial CUresult cuGetErrorName(CUresult error, byte** pStr);

    [LibraryImport(Lib, EntryPoint = "cuGetErrorString")]
    public static partial CUresult cuGetErrorString(CUresult error, byte** pStr);

    // Devices
    [LibraryImport(Lib, EntryPoint = "cuDeviceGetCount")]
    public static partial CUresult cuDeviceGetCount(out int count);

    [LibraryImport(Lib, EntryPoint = "cuDeviceGet")]
    public static partial CUresult cuDeviceGet(out int device, int ordinal);

    [LibraryImport(Lib, EntryPoint = "cuDeviceGetName")]
    public static partial CUresult cuDeviceGetName(byte* name, int len, int dev);

    [LibraryImport(Lib, EntryPoint = "cuDeviceGetAttribute")]
    public static partial CUresult cuDeviceGetAttribute(out int pi, CUdevice_attribute attrib, int dev);

    [LibraryImport(Lib, EntryPoint = "cuDeviceTotalMem_v2")]
    public static partial CUresult cuDeviceTotalMem_v2(out nuint bytes, int dev);

    [LibraryImport(Lib, EntryPoint = "cuDeviceGetUuid")]
    public static partial CUresult cuDeviceGetUuid(CUuuid* uuid, int dev);

    // Contexts (the primary context: one per device, shared with any other CUDA user in the process)
    [LibraryImport(Lib, EntryPoint = "cuDevicePrimaryCtxRetain")]
    public static partial CUresult cuDevicePrimaryCtxRetain(out nint pctx, int dev);

    [LibraryImport(Lib, EntryPoint = "cuDevicePrimaryCtxRelease_v2")]
    public static partial CUresult cuDevicePrimaryCtxRelease_v2(int dev);

    [LibraryImport(Lib, EntryPoint = "cuCtxSetCurrent")]
    public static partial CUresult cuCtxSetCurrent(nint ctx);

    [LibraryImport(Lib, EntryPoint = "cuCtxGetCurrent")]
    public static partial CUresult cuCtxGetCurrent(out nint pctx);

    [LibraryImport(Lib, EntryPoint = "cuCtxSynchronize")]
    public static partial CUresult cuCtxSynchronize();

    // Memory
    [LibraryImport(Lib, EntryPoint = "cuMemGetInfo_v2")]
    public static partial CUresult cuMemGetInfo_v2(out nuint free, out nuint total);

    [LibraryImport(Lib, EntryPoint = "cuMemAlloc_v2")]
    public static partial CUresult cuMemAlloc_v2(out ulong dptr, nuint bytesize);

    [LibraryImport(Lib, EntryPoint = "cuMemFree_v2")]
    public static partial CUresult cuMemFree_v2(ulong dptr);

    [LibraryImport(Lib, EntryPoint = "cuMemAllocAsync")]
    public static partial CUresult cuMemAllocAsync(out ulong dptr, nuint bytesize, nint hStream);

    [LibraryImport(Lib, EntryPoint = "cuMemFreeAsync")]
    public static partial CUresult cuMemFreeAsync(ulong dptr, nint hStream);

    [LibraryImport(Lib, EntryPoint = "cuMemcpyHtoD_v2")]
    public static partial CUresult cuMemcpyHtoD_v2(ulong dstDevice, void* srcHost, nuint byteCount);

    [LibraryImport(Lib, EntryPoint = "cuMemcpyDtoH_v2")]
    public static partial CUresult cuMemcpyDtoH_v2(void* dstHost, ulong srcDevice, nuint byteCount);

    [LibraryImport(Lib, EntryPoint = "cuMemcpyHtoDAsync_v2")]
    public static partial CUresult cuMemcpyHtoDAsync_v2(ulong dstDevice, void* srcHost, nuint byteCount, nint hStream);

    [LibraryImport(Lib, EntryPoint = "cuMemcpyDtoHAsync_v2")]
    public static partial CUresult cuMemcpyDtoHAsync_v2(void* dstHost, ulong srcDevice, nuint byteCount, nint hStream);

    [LibraryImport(Lib, EntryPoint = "cuMemcpyDtoDAsync_v2")]
    public static partial CUresult cuMemcpyDtoDAsync_v2(ulong dstDevice, ulong srcDevice, nuint byteCount, nint hStream);

    [LibraryImport(Lib, EntryPoint = "cuMemsetD8Async")]
    public static partial CUresult cuMemsetD8Async(ulong dstDevice, byte uc, nuint n, nint hStream);

    [LibraryImport(Lib, EntryPoint = "cuMemsetD32Async")]
    public static partial CUresult cuMemsetD32Async(ulong dstDevice, uint ui, nuint n, nint hStream);

    // Streams and events
    [LibraryImport(Lib, EntryPoint = "cuStreamCreate")]
    public static partial CUresult cuStreamCreate(out nint phStream, CUstream_flags flags);

    [LibraryImport(Lib, EntryPoint = "cuStreamDestroy_v2")]
    public static partial CUresult cuStreamDestroy_v2(nint hStream);

    [LibraryImport(Lib, EntryPoint = "cuStreamSynchronize")]
    public static partial CUresult cuStreamSynchronize(nint hStream);

    [LibraryImport(Lib, EntryPoint = "cuStreamWaitEvent")]
    public static partial CUresult cuStreamWaitEvent(nint hStream, nint hEvent, uint flags);

    [LibraryImport(Lib, EntryPoint = "cuEventCreate")]
    public static partial CUresult cuEventCreate(out nint phEvent, CUevent_flags flags);

    [LibraryImport(Lib, EntryPoint = "cuEventDestroy_v2")]
    public static partial CUresult cuEventDestroy_v2(nint hEvent);

    [LibraryImport(Lib, EntryPoint = "cuEventRecord")]
    public static partial CUresult cuEventRecord(nint hEvent, nint hStream);

    [LibraryImport(Lib, EntryPoint = "cuEventSynchronize")]
    public static partial CUresult cuEventSynchronize(nint hEvent);

    [LibraryImport(Lib, EntryPoint = "cuEventElapsedTime")]
    public static partial CUresult cuEventElapsedTime(out float pMilliseconds, nint hStart, nint hEnd);

    // Modules and launches
    [LibraryImport(Lib, EntryPoint = "cuModuleLoadData")]
    public static partial CUresult cuModuleLoadData(out nint module, void* image);

    [LibraryImport(Lib, EntryPoint = "cuModuleUnload")]
    public static partial CUresult cuModuleUnload(nint hmod);

    [LibraryImport(Lib, EntryPoint = "cuModuleGetFunction", StringMarshalling = StringMarshalling.Utf8)]
    public static partial CUresult cuModuleGetFunction(out nint hfunc, nint hmod, string name);

    [LibraryImport(Lib, EntryPoint = "cuFuncSetAttribute")]
    public static partial CUresult cuFuncSetAttribute(nint hfunc, CUfunction_attribute attrib, int value);

    [LibraryImport(Lib, EntryPoint = "cuLaunchKernel")]
    public static partial CUresult cuLaunchKernel(nint f, uint gridDimX, uint gridDimY, uint gridDimZ,
        uint blockDimX, uint blockDimY, uint blockDimZ, uint sharedMemBytes, nint hStream, void** kernelParams, void** extra);

    /// <summary>Throws <see cref="CudaException"/> naming <paramref name="call"/> unless <paramref name="result"/> is success.</summary>
    public static void Check(CUresult result, string call)
    {
        if (result == CUresult.CUDA_SUCCESS)
            return;
        throw new CudaException("libcuda", call, (int)result, ErrorName(result), ErrorDescription(result));
    }

    /// <summary>The driver's name for a status (CUDA_ERROR_OUT_OF_MEMORY); our enum's name if the driver does not know it.</summary>
    public static string ErrorName(CUresult result)
    {
        byte* text = null;
        return cuGetErrorName(result, &text) == CUresult.CUDA_SUCCESS && text != null
            ? Marshal.PtrToStringUTF8((nint)text) ?? result.ToString()
            : Enum.IsDefined(result) ? result.ToString() : $"CUresult {(int)result}";
    }

    public static string ErrorDescription(CUresult result)
    {
        byte* text = null;
        return cuGetErrorString(result, &text) == CUresult.CUDA_SUCCESS && text != null
            ? Marshal.PtrToStringUTF8((nint)text) ?? ""
            : "";
    }
}
