using System.Reflection;
using System.Runtime.InteropServices;

namespace FineTuneLab.Trainer.Backends.Cuda.Native;

/// <summary>
/// Resolves the logical library names our P/Invoke declarations use to NVIDIA's Linux sonames, newest first, and
/// explains in one sentence what to do when one is missing. A .NET assembly can have only one DllImport resolver:
/// this is the trainer's; another native library in this assembly should be added to <see cref="Libraries"/>.
/// </summary>
internal static class NvidiaLibraries
{
    public const string Cuda = "ftl-nvidia-cuda";
    public const string Cublas = "ftl-nvidia-cublas";
    public const string CublasLt = "ftl-nvidia-cublaslt";
    public const string Nvrtc = "ftl-nvidia-nvrtc";

    /// <summary>Extra directories searched (before the system's) for the sonames, colon-separated, e.g. a CUDA toolkit's lib64.</summary>
    public const string SearchPathVariable = "FTL_NVIDIA_LIBRARY_PATH";

    internal sealed record Library(string Name, string[] Sonames, string MissingAdvice);

    internal static readonly IReadOnlyDictionary<string, Library> Libraries = new Dictionary<string, Library>
    {
        [Cuda] = new(Cuda, ["libcuda.so.1"],
            "no NVIDIA driver on this machine; run with --device cpu"),
        [Cublas] = new(Cublas, ["libcublas.so.12", "libcublas.so.11"],
            "cuBLAS is not installed; install the CUDA toolkit's cuBLAS (Debian: libcublas11 from non-free) or run with --device cpu"),
        [CublasLt] = new(CublasLt, ["libcublasLt.so.12", "libcublasLt.so.11"],
            "cuBLASLt is not installed; install the CUDA toolkit's cuBLAS (Debian: libcublaslt11 from non-free) or run with --device cpu"),
        [Nvrtc] = new(Nvrtc, ["libnvrtc.so.12", "libnvrtc.so.11.2"],
            "NVRTC is not installed; install the CUDA toolkit's NVRTC (Debian: libnvrtc11.2 from non-free) or run with --device cpu"),
    };

    private static readonly Dictionary<string, (nint Handle, string Path)> Loaded = [];
    private static readonly Lock Gate = new();

    static NvidiaLibraries() =>
        NativeLibrary.SetDllImportResolver(typeof(NvidiaLibraries).Assembly, Resolve);

    /// <summary>Runs the static constructor (which installs the resolver); every binding class calls it from its own.</summary>
    public static void EnsureResolverInstalled() { }

    /// <summary>Loads the library or throws <see cref="NvidiaLibraryNotFoundException"/> with the advice for it.</summary>
    public static string Require(string name)
    {
        if (TryLoad(name, out _, out var path))
            return path;
        var lib = Libraries[name];
        throw new NvidiaLibraryNotFoundException(
            $"{string.Join(" / ", lib.Sonames)} not found: {lib.MissingAdvice}", lib.Sonames);
    }

    /// <summary>True when the library could be loaded; <paramref name="path"/> says which soname (or file) it was.</summary>
    public static bool TryLoad(string name, out nint handle, out string path)
    {
        lock (Gate)
        {
            if (Loaded.TryGetValue(name, out var hit))
            {
                (handle, path) = hit;
                return true;
            }
            if (!Libraries.TryGetValue(name, out var lib))
                throw new ArgumentException($"unknown NVIDIA library '{name}'", nameof(name));
            foreach (var candidate in Candidates(lib))
            {
                if (NativeLibrary.TryLoad(candidate, out handle))
                {
                    Loaded[name] = (handle, candidate);
                    path = candidate;
                    return true;
                }
            }
            handle = 0;
            path = "";
            return false;
        }
    }

    private static IEnumerable<string> Candidates(Library lib)
    {
        var extra = Environment.GetEnvironmentVariable(SearchPathVariable);
        foreach (var soname in lib.Sonames)
        {
            if (!string.IsNullOrEmpty(extra))
                foreach (var dir in extra.Split(':', StringSplitOptions.RemoveEmptyEntries))
                    yield return Path.Combine(dir, soname);
            yield return soname;
        }
    }

    private static nint Resolve(string libraryName, Assembly assembly, DllImportSearchPath? searchPath) =>
        Libraries.ContainsKey(libraryName) && TryLoad(libraryName, out var handle, out _) ? handle : 0;
}

/// <summary>An NVIDIA library (driver, cuBLAS, NVRTC) is absent; the message says what to install or to use the CPU.</summary>
public sealed class NvidiaLibraryNotFoundException(string message, IReadOnlyList<string> sonames) : DllNotFoundException(message)
{
    public IReadOnlyList<string> Sonames { get; } = sonames;
}
