using System.Runtime.InteropServices;

namespace FineTuneLab.Trainer.Backends.Cuda.Native;

/// <summary>NVRTC (libnvrtc.so.12 or .so.11.2), from nvrtc.h. It compiles CUDA C++ to PTX or CUBIN and needs no GPU.</summary>
internal static unsafe partial class Nvrtc
{
    static Nvrtc() => NvidiaLibraries.EnsureResolverInstalled();

    private const string Lib = NvidiaLibraries.Nvrtc;

    [LibraryImport(Lib, EntryPoint = "nvrtcGetErrorString")]
    public static partial byte* nvrtcGetErrorString(nvrtcResult result);

    [LibraryImport(Lib, EntryPoint = "nvrtcVersion")]
    public static partial nvrtcResult nvrtcVersion(out int major, out int minor);

    [LibraryImport(Lib, EntryPoint = "nvrtcGetNumSupportedArchs")]
    public static partial nvrtcResult nvrtcGetNumSupportedArchs(out int numArchs);

    [LibraryImport(Lib, EntryPoint = "nvrtcGetSupportedArchs")]
    public static partial nvrtcResult nvrtcGetSupportedArchs(int* supportedArchs);

    [LibraryImport(Lib, EntryPoint = "nvrtcCreateProgram", StringMarshalling = StringMarshalling.Utf8)]
    public static partial nvrtcResult nvrtcCreateProgram(out nint prog, string src, string name, int numHeaders,
        byte** headers, byte** includeNames);

    [LibraryImport(Lib, EntryPoint = "nvrtcDestroyProgram")]
    public static partial nvrtcResult nvrtcDestroyProgram(ref nint prog);

    [LibraryImport(Lib, EntryPoint = "nvrtcCompileProgram")]
    public static partial nvrtcResult nvrtcCompileProgram(nint prog, int numOptions, byte** options);

    [LibraryImport(Lib, EntryPoint = "nvrtcGetPTXSize")]
    public static partial nvrtcResult nvrtcGetPTXSize(nint prog, out nuint ptxSizeRet);

    [LibraryImport(Lib, EntryPoint = "nvrtcGetPTX")]
    public static partial nvrtcResult nvrtcGetPTX(nint prog, byte* ptx);

    [LibraryImport(Lib, EntryPoint = "nvrtcGetCUBINSize")]
    public static partial nvrtcResult nvrtcGetCUBINSize(nint prog, out nuint cubinSizeRet);

    [LibraryImport(Lib, EntryPoint = "nvrtcGetCUBIN")]
    public static partial nvrtcResult nvrtcGetCUBIN(nint prog, byte* cubin);

    [LibraryImport(Lib, EntryPoint = "nvrtcGetProgramLogSize")]
    public static partial nvrtcResult nvrtcGetProgramLogSize(nint prog, out nuint logSizeRet);

    [LibraryImport(Lib, EntryPoint = "nvrtcGetProgramLog")]
    public static partial nvrtcResult nvrtcGetProgramLog(nint prog, byte* log);

    public static string ErrorName(nvrtcResult result)
    {
        var text = nvrtcGetErrorString(result);
        return text == null ? result.ToString() : Marshal.PtrToStringUTF8((nint)text) ?? result.ToString();
    }

    public static void Check(nvrtcResult result, string call)
    {
        if (result != nvrtcResult.NVRTC_SUCCESS)
            throw new CudaException("libnvrtc", call, (int)result, ErrorName(result), "");
    }
}
