using System.Runtime.InteropServices;

namespace FineTuneLab.Agent.Nvml;

#pragma warning disable CA1707 // C names on purpose: the header check matches them one to one

/// <summary>nvmlMemory_t: framebuffer memory in bytes.</summary>
[NativeType("nvmlMemory_t")]
[StructLayout(LayoutKind.Sequential)]
internal struct nvmlMemory_t
{
    public ulong total;
    public ulong free;
    public ulong used;
}

/// <summary>nvmlMemory_v2_t: adds the memory the driver reserves; <c>version</c> must be <see cref="NvmlConstants.nvmlMemory_v2"/>.</summary>
[NativeType("nvmlMemory_v2_t")]
[StructLayout(LayoutKind.Sequential)]
internal struct nvmlMemory_v2_t
{
    public uint version;
    public ulong total;
    public ulong reserved;
    public ulong free;
    public ulong used;
}

/// <summary>nvmlUtilization_t: percent of the last sample period the GPU (kernels) and memory were busy.</summary>
[NativeType("nvmlUtilization_t")]
[StructLayout(LayoutKind.Sequential)]
internal struct nvmlUtilization_t
{
    public uint gpu;
    public uint memory;
}

[NativeType("nvmlTemperatureSensors_t")]
internal enum nvmlTemperatureSensors_t
{
    NVML_TEMPERATURE_GPU = 0,
}

[NativeType("nvmlClockType_t")]
internal enum nvmlClockType_t
{
    NVML_CLOCK_GRAPHICS = 0,
    NVML_CLOCK_SM = 1,
    NVML_CLOCK_MEM = 2,
    NVML_CLOCK_VIDEO = 3,
}

/// <summary>#define constants of nvml.h: buffer sizes and the versioned-struct tag of nvmlMemory_v2_t.</summary>
[NativeType("")]
internal enum NvmlConstants : uint
{
    NVML_DEVICE_NAME_V2_BUFFER_SIZE = 96,
    NVML_DEVICE_UUID_V2_BUFFER_SIZE = 96,
    NVML_SYSTEM_DRIVER_VERSION_BUFFER_SIZE = 80,
    NVML_SYSTEM_NVML_VERSION_BUFFER_SIZE = 80,
    /// <summary>NVML_STRUCT_VERSION(Memory, 2) = sizeof(nvmlMemory_v2_t) | 2 &lt;&lt; 24.</summary>
    nvmlMemory_v2 = 40 | (2u << 24),
}

/// <summary>Why the clocks are below their maximum (nvmlClocksThrottleReason* bits).</summary>
[Flags]
[NativeType("")]
public enum NvmlThrottleReasons : ulong
{
    nvmlClocksThrottleReasonNone = 0x0,
    nvmlClocksThrottleReasonGpuIdle = 0x1,
    nvmlClocksThrottleReasonApplicationsClocksSetting = 0x2,
    nvmlClocksThrottleReasonSwPowerCap = 0x4,
    nvmlClocksThrottleReasonHwSlowdown = 0x8,
    nvmlClocksThrottleReasonSyncBoost = 0x10,
    nvmlClocksThrottleReasonSwThermalSlowdown = 0x20,
    nvmlClocksThrottleReasonHwThermalSlowdown = 0x40,
    nvmlClocksThrottleReasonHwPowerBrakeSlowdown = 0x80,
    nvmlClocksThrottleReasonDisplayClockSetting = 0x100,
}
