using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using FineTuneLab.Trainer.Backends.Cuda.Native;

namespace FineTuneLab.Trainer.Backends.Cuda;

/// <summary>One GPU as the CUDA driver describes it.</summary>
public sealed record CudaDeviceInfo(
    int Ordinal,
    string Name,
    string Uuid,
    ComputeCapability ComputeCapability,
    long TotalMemoryBytes,
    long FreeMemoryBytes,
    int MultiprocessorCount,
    int L2CacheBytes,
    int MaxSharedMemoryPerBlockOptInBytes,
    int ClockRateKHz,
    int MemoryClockRateKHz,
    int MemoryBusWidthBits,
    bool MemoryPoolsSupported);

/// <summary>The driver, the libraries the CUDA backend loads, and the GPUs.</summary>
public sealed record CudaSystemInfo(
    int DriverVersion,
    string DriverLibrary,
    string NvrtcVersion,
    string CublasVersion,
    IReadOnlyList<CudaDeviceInfo> Devices)
{
    /// <summary>12040 → "12.4" (cuDriverGetVersion's encoding: 1000 * major + 10 * minor).</summary>
    public static string FormatCudaVersion(int version) =>
        string.Create(CultureInfo.InvariantCulture, $"{version / 1000}.{version % 1000 / 10}");

    /// <summary>
    /// Asks the driver about every GPU. Throws <see cref="NvidiaLibraryNotFoundException"/> when libcuda.so.1 is absent
    /// (no NVIDIA driver) and <see cref="CudaException"/> when the driver is there but cannot initialise (for example
    /// CUDA_ERROR_NO_DEVICE). NVRTC and cuBLAS are optional here: their versions read "not found: ..." when absent.
    /// </summary>
    public static CudaSystemInfo Query()
    {
        var driverLibrary = NvidiaLibraries.Require(NvidiaLibraries.Cuda);
        CudaDriver.Check(CudaDriver.cuInit(0), "cuInit");
        CudaDriver.Check(CudaDriver.cuDriverGetVersion(out var driverVersion), "cuDriverGetVersion");
        CudaDriver.Check(CudaDriver.cuDeviceGetCount(out var count), "cuDeviceGetCount");
        var devices = new List<CudaDeviceInfo>(count);
        for (var ordinal = 0; ordinal < count; ordinal++)
            devices.Add(QueryDevice(ordinal));
        return new(driverVersion, driverLibrary, NvrtcVersionText(), CublasVersionText(), devices);
    }

    private static unsafe CudaDeviceInfo QueryDevice(int ordinal)
    {
        CudaDriver.Check(CudaDriver.cuDeviceGet(out var device, ordinal), $"cuDeviceGet({ordinal})");
        var nameBuffer = stackalloc byte[256];
        CudaDriver.Check(CudaDriver.cuDeviceGetName(nameBuffer, 256, device), "cuDeviceGetName");
        var name = Marshal.PtrToStringUTF8((nint)nameBuffer) ?? "";
        CUuuid uuid;
        CudaDriver.Check(CudaDriver.cuDeviceGetUuid(&uuid, device), "cuDeviceGetUuid");
        CudaDriver.Check(CudaDriver.cuDeviceTotalMem_v2(out var total, device), "cuDeviceTotalMem_v2");

        int Attribute(CUdevice_attribute attribute)
        {
            CudaDriver.Check(CudaDriver.cuDeviceGetAttribute(out var value, attribute, device), $"cuDeviceGetAttribute({attribute})");
            return value;
        }

        // Free memory needs a context: borrow the device's primary context for the query and give it back.
        CudaDriver.Check(CudaDriver.cuDevicePrimaryCtxRetain(out var context, device), "cuDevicePrimaryCtxRetain");
        nuint free;
        try
        {
            CudaDriver.Check(CudaDriver.cuCtxSetCurrent(context), "cuCtxSetCurrent");
            CudaDriver.Check(CudaDriver.cuMemGetInfo_v2(out free, out _), "cuMemGetInfo_v2");
            CudaDriver.Check(CudaDriver.cuCtxSetCurrent(0), "cuCtxSetCurrent");
        }
        finally
        {
            CudaDriver.cuDevicePrimaryCtxRelease_v2(device);
        }

        return new CudaDeviceInfo(
            ordinal, name, FormatUuid(uuid.bytes),
            new ComputeCapability(Attribute(CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR),
                Attribute(CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR)),
            (long)total, (long)free,
            Attribute(CUdevice_attribute.CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT),
            Attribute(CUdevice_attribute.CU_DEVICE_ATTRIBUTE_L2_CACHE_SIZE),
            Attribute(CUdevice_attribute.CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN),
            Attribute(CUdevice_attribute.CU_DEVICE_ATTRIBUTE_CLOCK_RATE),
            Attribute(CUdevice_attribute.CU_DEVICE_ATTRIBUTE_MEMORY_CLOCK_RATE),
            Attribute(CUdevice_attribute.CU_DEVICE_ATTRIBUTE_GLOBAL_MEMORY_BUS_WIDTH),
            Attribute(CUdevice_attribute.CU_DEVICE_ATTRIBUTE_MEMORY_POOLS_SUPPORTED) != 0);
    }

    /// <summary>GPU-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx, the form nvidia-smi and NVML print.</summary>
    internal static unsafe string FormatUuid(byte* bytes)
    {
        var hex = new StringBuilder("GPU-", 40);
        for (var i = 0; i < 16; i++)
        {
            if (i is 4 or 6 or 8 or 10) hex.Append('-');
            hex.Append(bytes[i].ToString("x2", CultureInfo.InvariantCulture));
        }
        return hex.ToString();
    }

    /// <summary>"11.8 (libnvrtc.so.11.2)" or "not found: ..." when NVRTC is absent.</summary>
    public static string NvrtcVersionText()
    {
        if (!NvidiaLibraries.TryLoad(NvidiaLibraries.Nvrtc, out _, out var path))
            return NotFound(NvidiaLibraries.Nvrtc);
        var (major, minor) = NvrtcCompiler.Version;
        return string.Create(CultureInfo.InvariantCulture, $"{major}.{minor} ({path})");
    }

    /// <summary>"11.11.3 (libcublas.so.11)" or "not found: ..." when cuBLAS is absent. Needs no GPU.</summary>
    public static string CublasVersionText()
    {
        if (!NvidiaLibraries.TryLoad(NvidiaLibraries.Cublas, out _, out var path))
            return NotFound(NvidiaLibraries.Cublas);
        Cublas.Check(Cublas.cublasGetProperty(libraryPropertyType.MAJOR_VERSION, out var major), "cublasGetProperty(MAJOR_VERSION)");
        Cublas.Check(Cublas.cublasGetProperty(libraryPropertyType.MINOR_VERSION, out var minor), "cublasGetProperty(MINOR_VERSION)");
        Cublas.Check(Cublas.cublasGetProperty(libraryPropertyType.PATCH_LEVEL, out var patch), "cublasGetProperty(PATCH_LEVEL)");
        return string.Create(CultureInfo.InvariantCulture, $"{major}.{minor}.{patch} ({path})");
    }

    private static string NotFound(string library)
    {
        var lib = NvidiaLibraries.Libraries[library];
        return $"not found ({string.Join(" / ", lib.Sonames)})";
    }
}
