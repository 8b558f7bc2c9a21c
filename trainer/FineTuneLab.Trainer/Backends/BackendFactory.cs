using FineTuneLab.Trainer.Backends.Cpu;
using FineTuneLab.Trainer.Backends.Cuda;

namespace FineTuneLab.Trainer.Backends;

/// <summary>Which backend a command asked for with --device.</summary>
public enum DeviceChoice { Auto, Cpu, Cuda }

/// <summary>
/// Creates the backend named by --device: "cpu", "cuda" (fails with <see cref="CudaUnavailableException"/> and what to
/// install when the driver, a GPU or a library is missing) or "auto" (CUDA when it can start, else the CPU backend,
/// saying why through <paramref name="log"/>). Every backend comes wrapped in <see cref="CheckedBackend"/>, so the CPU
/// and the CUDA backend refuse bad arguments alike; code that needs the concrete backend finds it with <see cref="Find{T}"/>.
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
                return Cpu(cpuThreads);
            case DeviceChoice.Cuda:
                probe();
                return Cuda();
            default:
                try
                {
                    probe();
                }
                catch (CudaUnavailableException e)
                {
                    log($"device auto: using the CPU backend ({e.Message})");
                    return Cpu(cpuThreads);
                }
                return Cuda();
        }
    }

    public static IBackend Create(string? device, int? cpuThreads, Action<string> log) => Create(Parse(device), cpuThreads, log);

    /// <summary>The CPU backend (null = all cores), argument-checked.</summary>
    public static IBackend Cpu(int? threads = null) => new CheckedBackend(new CpuBackend(threads));

    /// <summary>The CUDA backend on GPU 0, argument-checked.</summary>
    public static IBackend Cuda(bool allowTf32 = true) => new CheckedBackend(new CudaBackend(allowTf32: allowTf32));

    /// <summary>The backend of type <typeparamref name="T"/> under any decorators (<see cref="CheckedBackend"/>, <see cref="ProfilingBackend"/>), or null.</summary>
    public static T? Find<T>(IBackend backend) where T : class, IBackend
    {
        for (var b = backend; ; )
            switch (b)
            {
                case T found: return found;
                case CheckedBackend c: b = c.Inner; break;
                case ProfilingBackend p: b = p.Inner; break;
                default: return null;
            }
    }

    /// <summary>Threads for reports: the CPU backend's worker count, 0 for a GPU.</summary>
    public static int ThreadsOf(IBackend backend) => Find<CpuBackend>(backend)?.Threads ?? 0;
}
