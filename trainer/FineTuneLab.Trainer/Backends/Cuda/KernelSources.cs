namespace FineTuneLab.Trainer.Backends.Cuda;

/// <summary>
/// The CUDA C++ kernel sources embedded in this assembly (Backends/Cuda/Kernels/*.cu) and the shared header they
/// include (ftl_common.cuh), which NVRTC receives in memory: no include path or CUDA toolkit headers are needed.
/// </summary>
public static class KernelSources
{
    private const string Prefix = "FineTuneLab.Kernels.";
    public const string CommonHeaderName = "ftl_common.cuh";

    private static readonly Lazy<IReadOnlyDictionary<string, string>> AllLazy = new(Load);

    /// <summary>Kernel files by file name (e.g. "norms.cu"), headers included.</summary>
    public static IReadOnlyDictionary<string, string> All => AllLazy.Value;

    /// <summary>The names of the compilable kernel files (the .cu files), sorted.</summary>
    public static IReadOnlyList<string> KernelFiles =>
        [.. All.Keys.Where(n => n.EndsWith(".cu", StringComparison.Ordinal)).Order(StringComparer.Ordinal)];

    /// <summary>The in-memory headers every kernel file may include, as (include name, text).</summary>
    public static IReadOnlyList<(string Name, string Source)> Headers =>
        [.. All.Where(kv => kv.Key.EndsWith(".cuh", StringComparison.Ordinal)).OrderBy(kv => kv.Key, StringComparer.Ordinal)
            .Select(kv => (kv.Key, kv.Value))];

    public static string Get(string fileName) =>
        All.TryGetValue(fileName, out var source)
            ? source
            : throw new ArgumentException($"no embedded kernel source '{fileName}' (have: {string.Join(", ", All.Keys.Order())})", nameof(fileName));

    private static IReadOnlyDictionary<string, string> Load()
    {
        var assembly = typeof(KernelSources).Assembly;
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var resource in assembly.GetManifestResourceNames())
        {
            if (!resource.StartsWith(Prefix, StringComparison.Ordinal))
                continue;
            using var stream = assembly.GetManifestResourceStream(resource)
                ?? throw new InvalidOperationException($"embedded resource {resource} could not be opened");
            using var reader = new StreamReader(stream);
            result[resource[Prefix.Length..]] = reader.ReadToEnd();
        }
        return result;
    }
}
