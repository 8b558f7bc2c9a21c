namespace FineTuneLab.Coordinator.Scheduling;

/// <summary>What a job needs from a node: memory from the trainer's memory plan, allowed GPU kinds, a price cap.</summary>
public sealed record JobRequirements(
    long MinMemoryBytes,
    bool RequiresGpu,
    IReadOnlyList<string> GpuKinds,
    double? MaxPricePerHour)
{
    public static readonly JobRequirements Anywhere = new(0, false, [], null);

    /// <summary>A job may run on a CPU-only node unless it asks for CUDA or names GPU kinds ("run only on GPUs of this kind").</summary>
    public bool CpuAllowed => !RequiresGpu && GpuKinds.Count == 0;
}

public sealed record QueuedJob(string JobId, int Priority, DateTimeOffset QueuedAt, JobRequirements Requirements);

/// <summary>One GPU of an online agent that runs no job.</summary>
public sealed record FreeGpu(int Index, string Name, long MemoryTotalBytes, long MemoryFreeBytes);

/// <summary>An online agent as the scheduler sees it: its idle GPUs (or, on a CPU-only node, whether it is idle).</summary>
public sealed record AgentCapacity(
    string AgentId,
    string Name,
    double PricePerHour,
    IReadOnlyList<FreeGpu> FreeGpus,
    bool HasGpus,
    bool CpuIdle,
    long HostMemoryFreeBytes);

/// <summary>A job placed on an agent (on one of its GPUs, or on its CPU when <see cref="GpuIndex"/> is null).</summary>
public sealed record Placement(string JobId, string AgentId, int? GpuIndex, double PricePerHour);

/// <summary>A job that fits no agent now, with the reason a person can act on.</summary>
public sealed record Unplaced(string JobId, string Reason);

public sealed record SchedulingResult(IReadOnlyList<Placement> Placements, IReadOnlyList<Unplaced> Waiting);
