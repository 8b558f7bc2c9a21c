using System.Reflection;
using System.Runtime.InteropServices;

namespace FineTuneLab.Agent.Nvml;

/// <summary>
/// Finds libnvidia-ml.so.1 for <see cref="NvmlNative"/>: an explicit file (FTL_NVML_LIBRARY or the path given to the
/// first <see cref="TryLoad"/>), then the system's loader path, where the NVIDIA driver installs it. The first library
/// loaded stays for the life of the process. This is the agent assembly's one DllImport resolver.
/// </summary>
internal static class NvmlLibrary
{
    public const string LogicalName = "ftl-nvidia-ml";
    public const string Soname = "libnvidia-ml.so.1";
    public const string PathVariable = "FTL_NVML_LIBRARY";

    private static readonly Lock Gate = new();
    private static nint _handle;
    private static string _path = "";

    static NvmlLibrary() =>
        NativeLibrary.SetDllImportResolver(typeof(NvmlLibrary).Assembly, Resolve);

    public static void EnsureResolverInstalled() { }

    /// <summary>The file that was loaded, or "" before any load.</summary>
    public static string LoadedPath { get { lock (Gate) return _path; } }

    /// <summary>Loads NVML (once per process) from <paramref name="explicitPath"/>, FTL_NVML_LIBRARY or the soname.</summary>
    public static bool TryLoad(string? explicitPath, out string error)
    {
        lock (Gate)
        {
            error = "";
            if (_handle != 0)
                return true;
            if (!TryLoadFirst(Candidates(explicitPath), out var handle, out var path, out error))
                return false;
            _handle = handle;
            _path = path;
            return true;
        }
    }

    /// <summary>Loads the first candidate that loads (no caching); the error names them all.</summary>
    internal static bool TryLoadFirst(IEnumerable<string> candidates, out nint handle, out string path, out string error)
    {
        var tried = new List<string>();
        foreach (var candidate in candidates)
        {
            tried.Add(candidate);
            if (NativeLibrary.TryLoad(candidate, out handle))
            {
                path = candidate;
                error = "";
                return true;
            }
        }
        handle = 0;
        path = "";
        error = $"{string.Join(" / ", tried)} not found: no NVIDIA driver on this machine (NVML ships with it)";
        return false;
    }

    internal static IEnumerable<string> Candidates(string? explicitPath)
    {
        if (!string.IsNullOrEmpty(explicitPath))
            yield return explicitPath;
        var fromEnvironment = Environment.GetEnvironmentVariable(PathVariable);
        if (!string.IsNullOrEmpty(fromEnvironment))
            yield return fromEnvironment;
        yield return Soname;
    }

    private static nint Resolve(string libraryName, Assembly assembly, DllImportSearchPath? searchPath)
    {
        if (libraryName != LogicalName)
            return 0;
        return TryLoad(null, out _) ? _handle : 0;
    }
}
