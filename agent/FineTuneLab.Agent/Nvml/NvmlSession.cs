using System.Globalization;

namespace FineTuneLab.Agent.Nvml;

/// <summary>Whether this node's GPUs can be watched, and if not, why.</summary>
public enum NvmlState
{
    /// <summary>NVML is initialised and sees at least one GPU.</summary>
    Available,
    /// <summary>libnvidia-ml.so.1 is not installed: no NVIDIA driver (a CPU-only node).</summary>
    NoDriverLibrary,
    /// <summary>The library is there but the kernel driver is not loaded (NVML_ERROR_DRIVER_NOT_LOADED).</summary>
    DriverNotLoaded,
    /// <summary>NVML works and reports zero GPUs.</summary>
    NoGpu,
    /// <summary>NVML failed to initialise for another reason (the message has NVML's status).</summary>
    Failed,
}

/// <summary>The outcome of <see cref="NvmlSession.Open"/>: a session, or the state and a one-line reason.</summary>
public sealed record NvmlOpenResult(NvmlSession? Session, NvmlState State, string Message);

/// <summary>An initialised NVML (nvmlInit_v2 … nvmlShutdown; NVML counts nested initialisations).</summary>
public sealed class NvmlSession : IDisposable
{
    private int _disposed;

    private NvmlSession(string libraryPath, IReadOnlyList<NvmlDevice> devices)
    {
        LibraryPath = libraryPath;
        Devices = devices;
    }

    public string LibraryPath { get; }

    public IReadOnlyList<NvmlDevice> Devices { get; }

    /// <summary>Loads and initialises NVML and takes a handle on every GPU; never throws for a missing driver.</summary>
    public static NvmlOpenResult Open(string? libraryPath = null)
    {
        if (!NvmlLibrary.TryLoad(libraryPath, out var loadError))
            return new(null, NvmlState.NoDriverLibrary, loadError);
        var init = NvmlNative.nvmlInit_v2();
        if (init != NvmlReturn.NVML_SUCCESS)
        {
            var state = init == NvmlReturn.NVML_ERROR_DRIVER_NOT_LOADED ? NvmlState.DriverNotLoaded : NvmlState.Failed;
            var advice = state == NvmlState.DriverNotLoaded ? "no NVIDIA driver loaded on this machine" : "NVML could not start";
            return new(null, state, $"nvmlInit_v2 failed: {NvmlNative.Describe(init)}: {advice}");
        }
        var count = NvmlNative.nvmlDeviceGetCount_v2(out var devices);
        if (count != NvmlReturn.NVML_SUCCESS || devices == 0)
        {
            NvmlNative.nvmlShutdown();
            return count != NvmlReturn.NVML_SUCCESS
                ? new(null, NvmlState.Failed, $"nvmlDeviceGetCount_v2 failed: {NvmlNative.Describe(count)}")
                : new(null, NvmlState.NoGpu, "NVML reports no GPU on this machine");
        }
        var handles = new List<NvmlDevice>((int)devices);
        for (uint i = 0; i < devices; i++)
        {
            var status = NvmlNative.nvmlDeviceGetHandleByIndex_v2(i, out var handle);
            if (status != NvmlReturn.NVML_SUCCESS)
            {
                NvmlNative.nvmlShutdown();
                return new(null, NvmlState.Failed, string.Create(CultureInfo.InvariantCulture,
                    $"nvmlDeviceGetHandleByIndex_v2({i}) failed: {NvmlNative.Describe(status)}"));
            }
            handles.Add(new NvmlDevice((int)i, handle));
        }
        return new(new NvmlSession(NvmlLibrary.LoadedPath, handles), NvmlState.Available, $"{devices} GPU(s)");
    }

    /// <summary>The driver's version string, e.g. "535.183.01".</summary>
    public unsafe NvmlReading<string> DriverVersion() =>
        NvmlDevice.ReadString((buffer, length) => NvmlNative.nvmlSystemGetDriverVersion(buffer, length),
            (uint)NvmlConstants.NVML_SYSTEM_DRIVER_VERSION_BUFFER_SIZE);

    /// <summary>The CUDA version the driver supports, as "12.2".</summary>
    public NvmlReading<string> CudaDriverVersion()
    {
        var status = NvmlNative.nvmlSystemGetCudaDriverVersion_v2(out var version);
        return status == NvmlReturn.NVML_SUCCESS
            ? NvmlReading<string>.Success(string.Create(CultureInfo.InvariantCulture, $"{version / 1000}.{version % 1000 / 10}"))
            : NvmlReading<string>.Failure(status);
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
            NvmlNative.nvmlShutdown();
    }
}
