using System.Runtime.InteropServices;

namespace FineTuneLab.Trainer.Tests.Cuda.WrongBindings;

// Declarations that disagree with cuda.h on purpose, so a test can show the header check catches each kind of error.
// They are never called.

[AttributeUsage(AttributeTargets.Enum | AttributeTargets.Struct)]
internal sealed class NativeTypeAttribute(string cName) : Attribute
{
    public string CName { get; } = cName;
}

#pragma warning disable CA1707
[NativeType("CUresult")]
internal enum WrongResult : long // the C enum is 4 bytes
{
    CUDA_SUCCESS = 0,
    CUDA_ERROR_OUT_OF_MEMORY = 3, // the header says 2
}

[NativeType("CUuuid")]
[StructLayout(LayoutKind.Sequential)]
internal struct WrongUuid
{
    public long bytes; // the header has char bytes[16]
}
#pragma warning restore CA1707

internal static class WrongDriver
{
    [DllImport("ftl-test-not-loaded", EntryPoint = "cuMemAlloc_v2")]
    public static extern int WrongAlloc(nint dptr, int bytesize); // bytesize is a size_t

    [DllImport("ftl-test-not-loaded", EntryPoint = "cuCtxSynchronize")]
    public static extern int WrongArity(int extra); // takes no arguments

    [DllImport("ftl-test-not-loaded", EntryPoint = "cuEventElapsedTime")]
    public static extern int WrongFloat(nint milliseconds, float start, nint end); // start is a CUevent (pointer)

    [DllImport("ftl-test-not-loaded", EntryPoint = "cuNoSuchFunction")]
    public static extern int Missing();
}
