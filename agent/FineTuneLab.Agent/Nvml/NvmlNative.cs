using System.Runtime.InteropServices;

namespace FineTuneLab.Agent.Nvml;

/// <summary>
/// NVML (libnvidia-ml.so.1, shipped with the NVIDIA driver), bound by hand from nvml.h. Entry points are the versioned
/// exports the header maps its public names to (nvmlInit → nvmlInit_v2, nvmlDeviceGetCount → _v2, ...).
/// nvmlDevice_t is an opaque pointer. The library is found by <see cref="NvmlLibrary"/>.
/// </summary>
internal static unsafe partial class NvmlNative
{
    static NvmlNative() => NvmlLibrary.EnsureResolverInstalled();

    private const string Lib = NvmlLibrary.LogicalName;

    [LibraryImport(Lib, EntryPoint = "nvmlInit_v2")]
    public static partial NvmlReturn nvmlInit_v2();

    [LibraryImport(Lib, EntryPoint = "nvmlShutdown")]
    public static partial NvmlReturn nvmlShutdown();

    [LibraryImport(Lib, EntryPoint = "nvmlErrorString")]
    public static partial byte* nvmlErrorString(NvmlReturn result);

    [LibraryImport(Lib, EntryPoint = "nvmlSystemGetDriverVersion")]
    public static partial NvmlReturn nvmlSystemGetDriverVersion(byte* version, uint length);

    [LibraryImport(Lib, EntryPoint = "nvmlSystemGetNVMLVersion")]
    public static partial NvmlReturn nvmlSystemGetNVMLVersion(byte* version, uint length);

    [LibraryImport(Lib, EntryPoint = "nvmlSystemGetCudaDriverVersion_v2")]
    public static partial NvmlReturn nvmlSystemGetCudaDriverVersion_v2(out int cudaDriverVersion);

    [LibraryImport(Lib, EntryPoint = "nvmlDeviceGetCount_v2")]
    public static partial NvmlReturn nvmlDeviceGetCount_v2(out uint deviceCount);

    [LibraryImport(Lib, EntryPoint = "nvmlDeviceGetHandleByIndex_v2")]
    public static partial NvmlReturn nvmlDeviceGetHandleByIndex_v2(uint index, out nint device);

    [LibraryImport(Lib, EntryPoint = "nvmlDeviceGetName")]
    public static partial NvmlReturn nvmlDeviceGetName(nint device, byte* name, uint length);

    [LibraryImport(Lib, EntryPoint = "nvmlDeviceGetUUID")]
    public static partial NvmlReturn nvmlDeviceGetUUID(nint device, byte* uuid, uint length);

    [LibraryImport(Lib, EntryPoint = "nvmlDeviceGetMemoryInfo")]
    public static partial NvmlReturn nvmlDeviceGetMemoryInfo(nint device, out nvmlMemory_t memory);

    [LibraryImport(Lib, EntryPoint = "nvmlDeviceGetMemoryInfo_v2")]
    public static partial NvmlReturn nvmlDeviceGetMemoryInfo_v2(nint device, nvmlMemory_v2_t* memory);

    [LibraryImport(Lib, EntryPoint = "nvmlDeviceGetUtilizationRates")]
    public static partial NvmlReturn nvmlDeviceGetUtilizationRates(nint device, out nvmlUtilization_t utilization);

    [LibraryImport(Lib, EntryPoint = "nvmlDeviceGetTemperature")]
    public static partial NvmlReturn nvmlDeviceGetTemperature(nint device, nvmlTemperatureSensors_t sensorType, out uint temp);

    [LibraryImport(Lib, EntryPoint = "nvmlDeviceGetPowerUsage")]
    public static partial NvmlReturn nvmlDeviceGetPowerUsage(nint device, out uint milliwatts);

    [LibraryImport(Lib, EntryPoint = "nvmlDeviceGetEnforcedPowerLimit")]
    public static partial NvmlReturn nvmlDeviceGetEnforcedPowerLimit(nint device, out uint milliwatts);

    [LibraryImport(Lib, EntryPoint = "nvmlDeviceGetClockInfo")]
    public static partial NvmlReturn nvmlDeviceGetClockInfo(nint device, nvmlClockType_t type, out uint clockMHz);

    [LibraryImport(Lib, EntryPoint = "nvmlDeviceGetCurrentClocksThrottleReasons")]
    public static partial NvmlReturn nvmlDeviceGetCurrentClocksThrottleReasons(nint device, out ulong clocksThrottleReasons);

    [LibraryImport(Lib, EntryPoint = "nvmlDeviceGetCudaComputeCapability")]
    public static partial NvmlReturn nvmlDeviceGetCudaComputeCapability(nint device, out int major, out int minor);

    /// <summary>NVML's own text for a status ("Driver Not Loaded"); the enum name when NVML cannot say.</summary>
    public static string Describe(NvmlReturn result)
    {
        var text = nvmlErrorString(result);
        var name = Enum.IsDefined(result) ? result.ToString() : $"nvmlReturn_t {(int)result}";
        return text == null ? name : $"{name} ({Marshal.PtrToStringUTF8((nint)text)})";
    }
}
