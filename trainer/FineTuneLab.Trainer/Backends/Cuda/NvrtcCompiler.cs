using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using FineTuneLab.Trainer.Backends.Cuda.Native;

namespace FineTuneLab.Trainer.Backends.Cuda;

/// <summary>What NVRTC produces: CUBIN (machine code for one real architecture, loads without JIT) or PTX (virtual
/// architecture; the driver JIT-compiles it for the GPU at hand, including newer ones).</summary>
public enum KernelImageKind { Cubin, Ptx }

/// <summary>A compiled kernel file: the image to pass to cuModuleLoadData (PTX is NUL-terminated text).</summary>
public sealed record CompiledKernelImage(string FileName, ComputeCapability Architecture, KernelImageKind Kind,
    byte[] Image, string CacheKey, bool FromCache, IReadOnlyList<string> Options);

/// <summary>NVRTC rejected a kernel file, or reported a warning (we treat every diagnostic as an error).</summary>
public sealed class NvrtcCompilationException(string fileName, IReadOnlyList<string> options, string log, string reason)
    : Exception($"NVRTC could not compile {fileName} ({reason}) with {string.Join(' ', options)}:\n{log}")
{
    public string FileName { get; } = fileName;
    public IReadOnlyList<string> Options { get; } = options;
    public string Log { get; } = log;
}

/// <summary>
/// Compiles CUDA C++ with NVRTC for one compute capability and caches the result on disk, keyed by SHA-256 of the
/// source, its headers, the options, the NVRTC version and the driver version (0 when compiling without a driver).
/// Any error or warning in NVRTC's log fails the compile, with the log.
/// </summary>
public sealed class NvrtcCompiler
{
    /// <summary>Overrides the cache folder (default: $XDG_CACHE_HOME/finetunelab/kernels or ~/.cache/finetunelab/kernels).</summary>
    public const string CacheDirectoryVariable = "FTL_KERNEL_CACHE_DIR";

    private const string CacheFormat = "ftl-nvrtc-cache-v1";

    /// <summary>Options every compile gets, before the architecture.</summary>
    public static readonly IReadOnlyList<string> BaseOptions = ["--std=c++17", "--fmad=true"];

    private readonly string? _cacheDirectory;
    private readonly int _driverVersion;

    /// <param name="cacheDirectory">Where images are cached; null for the default folder, "" for no cache.</param>
    /// <param name="driverVersion">cuDriverGetVersion's answer (0 without a driver): part of the cache key.</param>
    public NvrtcCompiler(string? cacheDirectory = null, int driverVersion = 0)
    {
        _cacheDirectory = cacheDirectory is null ? DefaultCacheDirectory() : cacheDirectory.Length == 0 ? null : cacheDirectory;
        _driverVersion = driverVersion;
    }

    public string? CacheDirectory => _cacheDirectory;

    /// <summary>NVRTC's version (major, minor); loads libnvrtc or throws <see cref="NvidiaLibraryNotFoundException"/>.</summary>
    public static (int Major, int Minor) Version
    {
        get
        {
            NvidiaLibraries.Require(NvidiaLibraries.Nvrtc);
            Nvrtc.Check(Nvrtc.nvrtcVersion(out var major, out var minor), "nvrtcVersion");
            return (major, minor);
        }
    }

    /// <summary>The real architectures this NVRTC can compile for, as numbers (80, 86, 90, ...).</summary>
    public static unsafe IReadOnlyList<int> SupportedArchitectures
    {
        get
        {
            NvidiaLibraries.Require(NvidiaLibraries.Nvrtc);
            Nvrtc.Check(Nvrtc.nvrtcGetNumSupportedArchs(out var count), "nvrtcGetNumSupportedArchs");
            var archs = new int[count];
            fixed (int* p = archs)
                Nvrtc.Check(Nvrtc.nvrtcGetSupportedArchs(p), "nvrtcGetSupportedArchs");
            return archs;
        }
    }

    /// <summary>Compiles one of the embedded kernel files (see <see cref="KernelSources"/>).</summary>
    public CompiledKernelImage CompileEmbedded(string fileName, ComputeCapability architecture, KernelImageKind kind = KernelImageKind.Cubin) =>
        Compile(fileName, KernelSources.Get(fileName), KernelSources.Headers, architecture, kind);

    public CompiledKernelImage Compile(string fileName, string source, IReadOnlyList<(string Name, string Source)> headers,
        ComputeCapability architecture, KernelImageKind kind = KernelImageKind.Cubin, IReadOnlyList<string>? extraOptions = null)
    {
        var version = Version;
        var supported = SupportedArchitectures;
        if (!supported.Contains(architecture.Number))
            throw new NotSupportedException(
                $"NVRTC {version.Major}.{version.Minor} cannot compile for {architecture.SmName}; it supports {string.Join(", ", supported.Select(a => "sm_" + a))}");

        List<string> options = [.. BaseOptions,
            kind == KernelImageKind.Cubin ? $"--gpu-architecture={architecture.SmName}" : $"--gpu-architecture={architecture.ComputeName}",
            .. extraOptions ?? []];
        var key = CacheKey(fileName, source, headers, options, version);
        var cachePath = _cacheDirectory is null ? null : Path.Combine(_cacheDirectory, key + (kind == KernelImageKind.Cubin ? ".cubin" : ".ptx"));
        if (cachePath is not null && File.Exists(cachePath))
            return new(fileName, architecture, kind, File.ReadAllBytes(cachePath), key, FromCache: true, options);

        var image = CompileUncached(fileName, source, headers, options, kind);
        if (cachePath is not null)
            WriteAtomically(cachePath, image);
        return new(fileName, architecture, kind, image, key, FromCache: false, options);
    }

    private static unsafe byte[] CompileUncached(string fileName, string source, IReadOnlyList<(string Name, string Source)> headers,
        IReadOnlyList<string> options, KernelImageKind kind)
    {
        var allocated = new List<nint>();
        nint Utf8(string s)
        {
            var p = Marshal.StringToCoTaskMemUTF8(s);
            allocated.Add(p);
            return p;
        }
        nint program = 0;
        try
        {
            var headerTexts = stackalloc byte*[Math.Max(1, headers.Count)];
            var headerNames = stackalloc byte*[Math.Max(1, headers.Count)];
            for (var i = 0; i < headers.Count; i++)
            {
                headerTexts[i] = (byte*)Utf8(headers[i].Source);
                headerNames[i] = (byte*)Utf8(headers[i].Name);
            }
            Nvrtc.Check(Nvrtc.nvrtcCreateProgram(out program, source, fileName, headers.Count, headerTexts, headerNames),
                $"nvrtcCreateProgram({fileName})");

            var optionPointers = stackalloc byte*[options.Count];
            for (var i = 0; i < options.Count; i++)
                optionPointers[i] = (byte*)Utf8(options[i]);
            var result = Nvrtc.nvrtcCompileProgram(program, options.Count, optionPointers);
            var log = ProgramLog(program);
            if (result != nvrtcResult.NVRTC_SUCCESS)
                throw new NvrtcCompilationException(fileName, options, log, Nvrtc.ErrorName(result));
            if (log.Length > 0)
                throw new NvrtcCompilationException(fileName, options, log, "warnings are errors");

            nuint size;
            if (kind == KernelImageKind.Cubin)
                Nvrtc.Check(Nvrtc.nvrtcGetCUBINSize(program, out size), "nvrtcGetCUBINSize");
            else
                Nvrtc.Check(Nvrtc.nvrtcGetPTXSize(program, out size), "nvrtcGetPTXSize");
            var image = new byte[(int)size];
            fixed (byte* p = image)
            {
                if (kind == KernelImageKind.Cubin)
                    Nvrtc.Check(Nvrtc.nvrtcGetCUBIN(program, p), "nvrtcGetCUBIN");
                else
                    Nvrtc.Check(Nvrtc.nvrtcGetPTX(program, p), "nvrtcGetPTX");
            }
            return image;
        }
        finally
        {
            if (program != 0)
                Nvrtc.nvrtcDestroyProgram(ref program);
            foreach (var p in allocated)
                Marshal.FreeCoTaskMem(p);
        }
    }

    private static unsafe string ProgramLog(nint program)
    {
        Nvrtc.Check(Nvrtc.nvrtcGetProgramLogSize(program, out var size), "nvrtcGetProgramLogSize");
        if (size <= 1)
            return "";
        var buffer = new byte[(int)size];
        fixed (byte* p = buffer)
            Nvrtc.Check(Nvrtc.nvrtcGetProgramLog(program, p), "nvrtcGetProgramLog");
        return Encoding.UTF8.GetString(buffer).TrimEnd('\0').Trim();
    }

    private string CacheKey(string fileName, string source, IReadOnlyList<(string Name, string Source)> headers,
        IReadOnlyList<string> options, (int Major, int Minor) version)
    {
        var text = new StringBuilder();
        void Field(string name, string value) => text.Append(name).Append(' ').Append(value.Length).Append('\n').Append(value).Append('\n');
        Field("format", CacheFormat);
        Field("file", fileName);
        Field("source", source);
        foreach (var (name, header) in headers)
        {
            Field("header-name", name);
            Field("header", header);
        }
        foreach (var option in options)
            Field("option", option);
        Field("nvrtc", $"{version.Major}.{version.Minor}");
        Field("driver", _driverVersion.ToString(System.Globalization.CultureInfo.InvariantCulture));
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text.ToString())));
    }

    private static void WriteAtomically(string path, byte[] bytes)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var temp = $"{path}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp";
        File.WriteAllBytes(temp, bytes);
        File.Move(temp, path, overwrite: true);
    }

    private static string DefaultCacheDirectory()
    {
        var explicitDir = Environment.GetEnvironmentVariable(CacheDirectoryVariable);
        if (!string.IsNullOrEmpty(explicitDir))
            return explicitDir;
        var xdg = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
        var root = !string.IsNullOrEmpty(xdg) ? xdg : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache");
        return Path.Combine(root, "finetunelab", "kernels");
    }
}
