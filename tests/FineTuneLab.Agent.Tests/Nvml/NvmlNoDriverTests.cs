using FineTuneLab.Agent.Nvml;

namespace FineTuneLab.Agent.Tests.Nvml;

/// <summary>
/// CI has libnvidia-ml (unpacked by scripts/lib/ensure-deps.sh into /opt/ftl-nvidia/lib) but no NVIDIA kernel driver:
/// NVML loads, nvmlInit_v2 answers NVML_ERROR_DRIVER_NOT_LOADED (9), and the sampler reports that without crashing.
/// </summary>
public sealed class NvmlNoDriverTests
{
    private static string NvidiaDirectory => Environment.GetEnvironmentVariable("FTL_NVIDIA_DIR") is { Length: > 0 } dir ? dir : "/opt/ftl-nvidia";

    private static string LibraryPath => Path.Combine(NvidiaDirectory, "lib", "libnvidia-ml.so.1");

    private static bool DriverLoaded => File.Exists("/proc/driver/nvidia/version");

    [Fact]
    public void Nvml_library_without_a_driver_reports_driver_not_loaded()
    {
        Assert.True(File.Exists(LibraryPath), $"{LibraryPath} is missing: run scripts/lib/ensure-deps.sh");
        var open = NvmlSession.Open(LibraryPath);
        using var session = open.Session;
        if (DriverLoaded)
        {
            Assert.Equal(NvmlState.Available, open.State);
            return;
        }
        Assert.Null(open.Session);
        Assert.Equal(NvmlState.DriverNotLoaded, open.State);
        Assert.Equal("nvmlInit_v2 failed: NVML_ERROR_DRIVER_NOT_LOADED (Driver Not Loaded): no NVIDIA driver loaded on this machine", open.Message);
        Assert.Equal(9, (int)NvmlReturn.NVML_ERROR_DRIVER_NOT_LOADED);
    }

    [Fact]
    public async Task Sampler_reports_no_gpu_once_and_ends()
    {
        if (DriverLoaded)
            return; // a GPU node: Sampler_tests cover the sampling loop
        var sampler = new NvmlSampler(libraryPath: LibraryPath);
        Assert.Equal(TimeSpan.FromSeconds(1), sampler.Interval);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var snapshots = new List<NvmlSnapshot>();
        await foreach (var snapshot in sampler.SampleAsync(cts.Token))
            snapshots.Add(snapshot);
        var only = Assert.Single(snapshots);
        Assert.Equal(NvmlState.DriverNotLoaded, only.State);
        Assert.Empty(only.Gpus);
        Assert.Contains("Driver Not Loaded", only.Message);
        Assert.False(cts.IsCancellationRequested);
    }

    [Fact]
    public void A_missing_library_is_named_with_the_reason()
    {
        var loaded = NvmlLibrary.TryLoadFirst(["/nonexistent/libnvidia-ml.so.1", "libnvidia-ml-does-not-exist.so.1"], out var handle, out _, out var error);
        Assert.False(loaded);
        Assert.Equal(0, handle);
        Assert.Equal("/nonexistent/libnvidia-ml.so.1 / libnvidia-ml-does-not-exist.so.1 not found: no NVIDIA driver on this machine (NVML ships with it)", error);
        var candidates = NvmlLibrary.Candidates("/x/libnvidia-ml.so.1").ToList();
        Assert.Equal("/x/libnvidia-ml.so.1", candidates[0]);
        Assert.Equal(NvmlLibrary.Soname, candidates[^1]);
    }
}
