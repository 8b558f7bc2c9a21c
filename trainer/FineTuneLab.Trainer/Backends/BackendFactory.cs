using FineTuneLab.Trainer.Backends.Cpu;
using FineTuneLab.Trainer.Backends.Cuda;

namespace FineTuneLab.Trainer.Backends;

/// <summary>Which backend a command asked for with --device.</summary>
public enum DeviceChoice { Auto, Cpu, Cuda }

/// <summary>
/// Creates the backend named by --device: "cpu", "cuda" (fails with <see cref="CudaUnavailableException"/> and what to
/// install when the driver, a GPU or a library is missing) or "auto" (CUDA when it can start, else the CPU backend,
/// saying why through <paramref name="log"/>).
/// </summary>
public static class BackendFactory
{
    public const string OptionHelp = "cpu, cuda or auto (CUDA when an NVIDIA driver and GPU are present, else CPU)";

    public static DeviceChoice Parse(string? text) => text?.Trim().ToLowerInvariant() switch
    {
        null or "" or "auto" => DeviceChoice.Auto,
        "cpu" => DeviceChoice.Cpu,
        "cuda" or "gpu" => DeviceChoice.Cuda,
        _ => throw new ArgumentException($"--device '{text}' is not one of cpu, cuda, auto"),
    };

    /// <param name="cpuThreads">CPU backend threads (null = all cores); ignored by CUDA.</param>
    /// <param name="log">Receives one line when auto falls back to the CPU.</param>
    /// <param name="cudaProbe">Checks that CUDA can start (throws <see cref="CudaUnavailableException"/>); the real probe unless a test replaces it.</param>
    public static IBackend Create(DeviceChoice device, int? cpuThreads, Action<string> log, Action? cudaProbe = null)
    {
        var probe = cudaProbe ?? (() => CudaBackend.Probe());
        switch (device)
        {
            case DeviceChoice.Cpu:
                return new CpuBackend(cpuThreads);
            case DeviceChoice.Cuda:
                probe();
                return new CudaBackend();
            default:
                try
                {
                    probe();
                }
                catch (CudaUnavailableException e)
                {
                    log($"device auto: using the CPU backend ({e.Message})");
                    return new CpuBackend(cpuThreads);
                }
                return new CudaBackend();
        }
    }

    public static IBackend Create(string? device, int? cpuThreads, Action<string> log) => Create(Parse(device), cpuThreads, log);

    /// <summary>Threads for reports: the CPU backend's worker count, 0 for a GPU.</summary>
    public static int ThreadsOf(IBackend backend) => backend is CpuBackend cpu ? cpu.Threads : 0;
}
