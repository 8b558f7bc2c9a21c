using FineTuneLab.Agent.Jobs;
using FineTuneLab.Agent.Nvml;
using FineTuneLab.Agent.Session;
using FineTuneLab.Shared.Protos.Agent.V1;
using Microsoft.Extensions.Logging;

namespace FineTuneLab.Agent.Node;

/// <summary>
/// Samples the node into the outbox: GPU readings from NVML as it reports them, host readings (CPU, the trainer's
/// memory, free disk) every second, each tagged with the job running then. The first NVML answer also tells which
/// GPUs the node has, for the inventory.
/// </summary>
public sealed class TelemetrySampler(string dataDir, Outgoing outgoing, JobSlot jobs, ILogger log)
{
    private readonly TaskCompletionSource<IReadOnlyList<GpuInfo>> _gpus = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>The GPUs NVML found, once it answered (empty on a node without a driver).</summary>
    public async Task<IReadOnlyList<GpuInfo>> GpusAsync(TimeSpan wait, CancellationToken cancellationToken)
    {
        try { return await _gpus.Task.WaitAsync(wait, cancellationToken); }
        catch (TimeoutException) { return []; }
    }

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        var host = new HostSampler(dataDir);
        var nvml = new NvmlSampler();
        var gpuTask = nvml.RunAsync((snapshot, _) =>
        {
            if (snapshot.State != NvmlState.Available)
            {
                if (_gpus.TrySetResult([])) log.LogInformation("no GPU telemetry: {Message}", snapshot.Message);
                return ValueTask.CompletedTask;
            }
            var jobId = jobs.Current?.JobId;
            _gpus.TrySetResult(snapshot.Gpus.Select(g => new GpuInfo { Index = (uint)g.Index, Name = g.Name, Uuid = g.Uuid, MemoryTotalBytes = g.MemoryTotalBytes ?? 0 }).ToList());
            foreach (var g in snapshot.Gpus)
            {
                if (g.GpuUtilizationPercent is { } u) outgoing.Point(jobId, g.Index, "gpu.util", u, snapshot.Time);
                if (g.MemoryUsedBytes is { } mem) outgoing.Point(jobId, g.Index, "gpu.mem.used", mem, snapshot.Time);
                if (g.TemperatureC is { } t) outgoing.Point(jobId, g.Index, "gpu.temp", t, snapshot.Time);
                if (g.PowerWatts is { } p) outgoing.Point(jobId, g.Index, "gpu.power", p, snapshot.Time);
            }
            return ValueTask.CompletedTask;
        }, cancellationToken);
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1));
        try
        {
            do
            {
                var job = jobs.Current;
                foreach (var point in host.Sample(DateTimeOffset.UtcNow, job?.JobId, job?.TrainerPid)) outgoing.Point(point);
            } while (await timer.WaitForNextTickAsync(cancellationToken));
        }
        catch (OperationCanceledException) { }
        await gpuTask;
    }
}
