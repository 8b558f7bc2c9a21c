using System.Runtime.InteropServices;

namespace FineTuneLab.Agent.Nvml;

/// <summary>What the sampler reads from one GPU; <see cref="NvmlDevice"/> asks NVML, tests substitute their own.</summary>
public interface INvmlDeviceReader
{
    NvmlReading<string> Name();
    NvmlReading<string> Uuid();
    NvmlReading<(ulong Used, ulong Total)> Memory();
    NvmlReading<(uint Gpu, uint Memory)> Utilization();
    NvmlReading<uint> TemperatureC();
    NvmlReading<uint> PowerMilliwatts();
    NvmlReading<uint> PowerLimitMilliwatts();
    NvmlReading<uint> SmClockMHz();
    NvmlReading<NvmlThrottleReasons> ThrottleReasons();
    NvmlReading<(int Major, int Minor)> ComputeCapability();
}

/// <summary>One GPU's NVML handle; every getter is a separate call and a separate <see cref="NvmlReading{T}"/>.</summary>
public sealed unsafe class NvmlDevice : INvmlDeviceReader
{
    private readonly nint _handle;

    internal NvmlDevice(int index, nint handle)
    {
        Index = index;
        _handle = handle;
    }

    public int Index { get; }

    public NvmlReading<string> Name() => ReadString((buffer, length) => NvmlNative.nvmlDeviceGetName(_handle, buffer, length),
        (uint)NvmlConstants.NVML_DEVICE_NAME_V2_BUFFER_SIZE);

    public NvmlReading<string> Uuid() => ReadString((buffer, length) => NvmlNative.nvmlDeviceGetUUID(_handle, buffer, length),
        (uint)NvmlConstants.NVML_DEVICE_UUID_V2_BUFFER_SIZE);

    /// <summary>Used and total bytes: nvmlDeviceGetMemoryInfo_v2 (which does not count driver-reserved memory as used)
    /// where the driver has it (R510+), else nvmlDeviceGetMemoryInfo.</summary>
    public NvmlReading<(ulong Used, ulong Total)> Memory()
    {
        try
        {
            var v2 = new nvmlMemory_v2_t { version = (uint)NvmlConstants.nvmlMemory_v2 };
            var status = NvmlNative.nvmlDeviceGetMemoryInfo_v2(_handle, &v2);
            if (status == NvmlReturn.NVML_SUCCESS)
                return NvmlReading<(ulong, ulong)>.Success((v2.used, v2.total));
            if (status is not (NvmlReturn.NVML_ERROR_FUNCTION_NOT_FOUND or NvmlReturn.NVML_ERROR_NOT_SUPPORTED or NvmlReturn.NVML_ERROR_ARGUMENT_VERSION_MISMATCH))
                return NvmlReading<(ulong, ulong)>.Failure(status);
        }
        catch (EntryPointNotFoundException)
        {
            // A driver older than R510: only the first version exists.
        }
        var v1 = NvmlNative.nvmlDeviceGetMemoryInfo(_handle, out var memory);
        return v1 == NvmlReturn.NVML_SUCCESS ? NvmlReading<(ulong, ulong)>.Success((memory.used, memory.total)) : NvmlReading<(ulong, ulong)>.Failure(v1);
    }

    public NvmlReading<(uint Gpu, uint Memory)> Utilization()
    {
        var status = NvmlNative.nvmlDeviceGetUtilizationRates(_handle, out var u);
        return status == NvmlReturn.NVML_SUCCESS ? NvmlReading<(uint, uint)>.Success((u.gpu, u.memory)) : NvmlReading<(uint, uint)>.Failure(status);
    }

    public NvmlReading<uint> TemperatureC() =>
        Read(NvmlNative.nvmlDeviceGetTemperature(_handle, nvmlTemperatureSensors_t.NVML_TEMPERATURE_GPU, out var value), value);

    public NvmlReading<uint> PowerMilliwatts() => Read(NvmlNative.nvmlDeviceGetPowerUsage(_handle, out var value), value);

    public NvmlReading<uint> PowerLimitMilliwatts() => Read(NvmlNative.nvmlDeviceGetEnforcedPowerLimit(_handle, out var value), value);

    public NvmlReading<uint> SmClockMHz() =>
        Read(NvmlNative.nvmlDeviceGetClockInfo(_handle, nvmlClockType_t.NVML_CLOCK_SM, out var value), value);

    public NvmlReading<NvmlThrottleReasons> ThrottleReasons() =>
        Read(NvmlNative.nvmlDeviceGetCurrentClocksThrottleReasons(_handle, out var value), (NvmlThrottleReasons)value);

    public NvmlReading<(int Major, int Minor)> ComputeCapability()
    {
        var status = NvmlNative.nvmlDeviceGetCudaComputeCapability(_handle, out var major, out var minor);
        return status == NvmlReturn.NVML_SUCCESS ? NvmlReading<(int, int)>.Success((major, minor)) : NvmlReading<(int, int)>.Failure(status);
    }

    private static NvmlReading<T> Read<T>(NvmlReturn status, T value) =>
        status == NvmlReturn.NVML_SUCCESS ? NvmlReading<T>.Success(value) : NvmlReading<T>.Failure(status);

    internal delegate NvmlReturn StringGetter(byte* buffer, uint length);

    internal static NvmlReading<string> ReadString(StringGetter getter, uint length)
    {
        var buffer = stackalloc byte[(int)length];
        var status = getter(buffer, length);
        return status == NvmlReturn.NVML_SUCCESS
            ? NvmlReading<string>.Success(Marshal.PtrToStringUTF8((nint)buffer) ?? "")
            : NvmlReading<string>.Failure(status);
    }
}
