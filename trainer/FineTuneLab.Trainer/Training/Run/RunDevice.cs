using System.Diagnostics;
using FineTuneLab.Trainer.Backends;
using FineTuneLab.Trainer.Backends.Cuda;
using FineTuneLab.Trainer.Events;
using FineTuneLab.Trainer.Jobs;

namespace FineTuneLab.Trainer.Training.Run;

/// <summary>
/// The backend a training run computes on, chosen from the job spec's <c>device</c> (or <c>--device</c>): <c>cpu</c>,
/// <c>cuda</c> (refused with <see cref="CudaUnavailableException"/>, exit code 2, when the driver, a GPU, cuBLAS or
/// NVRTC is missing) or <c>auto</c> (CUDA when it can start, else the CPU). It fills the start event (device, its
/// name, memory and compute capability, and for <c>auto</c> which backend was taken and why) and the memory figures
/// of step events (process RSS, and the CUDA caching allocator's allocated / reserved / peak bytes).
/// </summary>
public sealed class RunDevice : IDisposable
{
    public IBackend Backend { get; }

    /// <summary>Why this backend was taken (auto) or null when the spec named it.</summary>
    public string? Note { get; }

    private RunDevice(IBackend backend, string? note)
    {
        Backend = backend;
        Note = note;
    }

    /// <param name="cudaProbe">Replaces the real CUDA probe in tests.</param>
    public static RunDevice Open(DeviceKind kind, int cpuThreads, Action? cudaProbe = null)
    {
        var choice = kind switch
        {
            DeviceKind.Cpu => DeviceChoice.Cpu,
            DeviceKind.Cuda => DeviceChoice.Cuda,
            _ => DeviceChoice.Auto,
        };
        string? fallback = null;
        var backend = BackendFactory.Create(choice, cpuThreads, line => fallback = line, cudaProbe);
        var note = choice != DeviceChoice.Auto ? null
            : fallback ?? (BackendFactory.Find<CudaBackend>(backend) is { } cuda ? $"device auto: using the CUDA backend on GPU 0 ({cuda.Info.Name})" : null);
        return new RunDevice(backend, note);
    }

    /// <summary>The run's first event, describing where it computes.</summary>
    public StartEvent Start(string job, long totalSteps, long tokensPerEpoch, int resumedFromStep) => BackendFactory.Find<CudaBackend>(Backend) switch
    {
        { } cuda => new StartEvent(job, cuda.Name, cuda.Info.Name, cuda.Info.TotalMemoryBytes, cuda.Info.ComputeCapability.ToString(),
            0, totalSteps, tokensPerEpoch, resumedFromStep) { DeviceNote = Note },
        _ => new StartEvent(job, Backend.Name, CpuName(), GC.GetGCMemoryInfo().TotalAvailableMemoryBytes, null,
            BackendFactory.ThreadsOf(Backend), totalSteps, tokensPerEpoch, resumedFromStep) { DeviceNote = Note },
    };

    /// <summary>Memory now: the process's RSS and, on a GPU, the caching allocator's figures.</summary>
    public MemoryFigures Memory()
    {
        using var self = Process.GetCurrentProcess();
        var device = BackendFactory.Find<CudaBackend>(Backend) is { } cuda ? cuda.MemoryStats : default;
        return new MemoryFigures(self.WorkingSet64, self.PeakWorkingSet64, device.AllocatedBytes, device.ReservedBytes, device.PeakReservedBytes);
    }

    private static string CpuName()
    {
        try
        {
            var line = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal));
            if (line is not null) return line[(line.IndexOf(':') + 1)..].Trim();
        }
        catch (IOException) { }
        return System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture.ToString();
    }

    public void Dispose() => Backend.Dispose();
}
