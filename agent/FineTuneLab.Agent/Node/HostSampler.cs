using Google.Protobuf.WellKnownTypes;
using FineTuneLab.Shared.Protos.Agent.V1;

namespace FineTuneLab.Agent.Node;

/// <summary>
/// Host-wide readings for telemetry, beside NVML's GPU readings: CPU utilization (from /proc/stat deltas between
/// calls), available memory, free disk under the data directory, and the trainer's RSS while a job runs.
/// </summary>
public sealed class HostSampler(string dataDirectory)
{
    private (ulong Busy, ulong Total)? _previous = ProcFs.CpuJiffies();

    public IReadOnlyList<TelemetryPoint> Sample(DateTimeOffset at, string? jobId, int? trainerPid)
    {
        var points = new List<TelemetryPoint>(4);
        var stamp = Timestamp.FromDateTimeOffset(at);
        void Add(string metric, double value) =>
            points.Add(new TelemetryPoint { At = stamp, JobId = jobId ?? "", GpuIndex = -1, Metric = metric, Value = value });

        var now = ProcFs.CpuJiffies();
        if (now is { } n && _previous is { } p && n.Total > p.Total)
            Add("host.cpu.util", 100.0 * (n.Busy - p.Busy) / (n.Total - p.Total));
        _previous = now;

        if (ProcFs.MemInfoBytes("MemAvailable") is { } available) Add("host.mem.available", available);
        Add("host.disk.free", NodeInventoryProbe.DiskFreeBytes(dataDirectory));
        if (trainerPid is { } pid && ProcFs.ProcessRssBytes(pid) is { } rss) Add("trainer.rss", rss);
        return points;
    }
}
