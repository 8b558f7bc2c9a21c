using System.Runtime.InteropServices;

namespace FineTuneLab.Trainer.Backends.Cuda.Native;

#pragma warning disable CA1707 // C names on purpose: the header check matches them one to one

/// <summary>The CUdevice_attribute values we query (CUDA 11.8 cuda.h).</summary>
[NativeType("CUdevice_attribute")]
internal enum CUdevice_attribute
{
    CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK = 1,
    CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK = 8,
    CU_DEVICE_ATTRIBUTE_WARP_SIZE = 10,
    CU_DEVICE_ATTRIBUTE_MAX_REGISTERS_PER_BLOCK = 12,
    CU_DEVICE_ATTRIBUTE_CLOCK_RATE = 13,
    CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT = 16,
    CU_DEVICE_ATTRIBUTE_PCI_BUS_ID = 33,
    CU_DEVICE_ATTRIBUTE_MEMORY_CLOCK_RATE = 36,
    CU_DEVICE_ATTRIBUTE_GLOBAL_MEMORY_BUS_WIDTH = 37,
    CU_DEVICE_ATTRIBUTE_L2_CACHE_SIZE = 38,
    CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75,
    CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR = 76,
    CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_MULTIPROCESSOR = 81,
    CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN = 97,
    CU_DEVICE_ATTRIBUTE_MEMORY_POOLS_SUPPORTED = 115,
}

/// <summary>CUfunction_attribute: the one we set (opting a kernel into more than 48 KiB of dynamic shared memory).</summary>
[NativeType("CUfunction_attribute")]
internal enum CUfunction_attribute
{
    CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK = 0,
    CU_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES = 1,
    CU_FUNC_ATTRIBUTE_NUM_REGS = 4,
    CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES = 8,
}

/// <summary>Flags of cuStreamCreate (CUstream_flags).</summary>
[Flags]
[NativeType("CUstream_flags")]
internal enum CUstream_flags : uint
{
    CU_STREAM_DEFAULT = 0x0,
    CU_STREAM_NON_BLOCKING = 0x1,
}

/// <summary>Flags of cuEventCreate (CUevent_flags).</summary>
[Flags]
[NativeType("CUevent_flags")]
internal enum CUevent_flags : uint
{
    CU_EVENT_DEFAULT = 0x0,
    CU_EVENT_BLOCKING_SYNC = 0x1,
    CU_EVENT_DISABLE_TIMING = 0x2,
}

/// <summary>CUuuid: 16 raw bytes.</summary>
[NativeType("CUuuid")]
[StructLayout(LayoutKind.Sequential, Size = 16)]
internal unsafe struct CUuuid
{
    public fixed byte bytes[16];
}
