namespace FineTuneLab.Coordinator.Scheduling;

/// <summary>
/// Places queued jobs on agents: highest priority first (then oldest); a job fits a GPU when the memory plan fits
/// the GPU's free memory, its kind is allowed and the agent's price is within the job's cap; among fitting
/// places the cheapest wins (ties: the tightest memory fit, keeping big GPUs for big jobs, then the agent id so that
/// the outcome is deterministic). One job per GPU; a CPU-only agent runs one job at a time.
/// </summary>
public static class Scheduler
{
    public static SchedulingResult Plan(IEnumerable<QueuedJob> queue, IEnumerable<AgentCapacity> agents)
    {
        var free = agents.Select(a => new AgentState(a)).ToList();
        var placements = new List<Placement>();
        var waiting = new List<Unplaced>();

        foreach (var job in queue.OrderByDescending(j => j.Priority).ThenBy(j => j.QueuedAt).ThenBy(j => j.JobId, StringComparer.Ordinal))
        {
            var best = free
                .SelectMany(a => Candidates(a, job.Requirements))
                .OrderBy(c => c.Agent.Capacity.PricePerHour)
                .ThenBy(c => c.Memory)
                .ThenBy(c => c.Agent.Capacity.AgentId, StringComparer.Ordinal)
                .ThenBy(c => c.Gpu?.Index ?? -1)
                .FirstOrDefault();

            if (best is null)
            {
                waiting.Add(new Unplaced(job.JobId, WhyNot(job.Requirements, free)));
                continue;
            }
            if (best.Gpu is { } gpu) best.Agent.Gpus.Remove(gpu);
            else best.Agent.CpuIdle = false;
            placements.Add(new Placement(job.JobId, best.Agent.Capacity.AgentId, best.Gpu?.Index, best.Agent.Capacity.PricePerHour));
        }
        return new SchedulingResult(placements, waiting);
    }

    private sealed class AgentState(AgentCapacity capacity)
    {
        public AgentCapacity Capacity { get; } = capacity;
        public List<FreeGpu> Gpus { get; } = capacity.FreeGpus.ToList();
        public bool CpuIdle { get; set; } = capacity.CpuIdle && !capacity.HasGpus;
    }

    private sealed record Candidate(AgentState Agent, FreeGpu? Gpu, long Memory);

    private static IEnumerable<Candidate> Candidates(AgentState agent, JobRequirements r)
    {
        if (r.MaxPricePerHour is { } cap && agent.Capacity.PricePerHour > cap) yield break;
        foreach (var gpu in agent.Gpus)
        {
            if (gpu.MemoryFreeBytes >= r.MinMemoryBytes && KindAllowed(gpu.Name, r.GpuKinds))
                yield return new Candidate(agent, gpu, gpu.MemoryFreeBytes);
        }
        if (r.CpuAllowed && agent.CpuIdle && agent.Capacity.HostMemoryFreeBytes >= r.MinMemoryBytes)
            yield return new Candidate(agent, null, agent.Capacity.HostMemoryFreeBytes);
    }

    /// <summary>A GPU kind matches when the GPU's name contains it ("A100" matches "NVIDIA A100-SXM4-80GB").</summary>
    private static bool KindAllowed(string gpuName, IReadOnlyList<string> kinds) =>
        kinds.Count == 0 || kinds.Any(k => gpuName.Contains(k, StringComparison.OrdinalIgnoreCase));

    private static string WhyNot(JobRequirements r, IReadOnlyList<AgentState> agents)
    {
        if (agents.Count == 0) return "no agent is online";
        var withinPrice = agents.Where(a => r.MaxPricePerHour is not { } cap || a.Capacity.PricePerHour <= cap).ToList();
        if (withinPrice.Count == 0)
            return $"no agent within the price cap of ${r.MaxPricePerHour:0.###}/h (cheapest: ${agents.Min(a => a.Capacity.PricePerHour):0.###}/h)";
        var gpus = withinPrice.SelectMany(a => a.Gpus.Select(g => (Agent: a, Gpu: g))).ToList();
        var kindOk = gpus.Where(x => KindAllowed(x.Gpu.Name, r.GpuKinds)).ToList();
        var cpuOk = r.CpuAllowed ? withinPrice.Where(a => a.CpuIdle).ToList() : [];
        if (kindOk.Count == 0 && cpuOk.Count == 0)
        {
            if (r.GpuKinds.Count > 0)
                return $"no idle GPU of kind {string.Join(" or ", r.GpuKinds)} (idle: {(gpus.Count == 0 ? "none, only CPU nodes" : string.Join(", ", gpus.Select(x => x.Gpu.Name).Distinct()))})";
            return r.RequiresGpu ? "no idle GPU on any agent within the price cap" : "every agent is busy";
        }
        var largest = kindOk.Select(x => (x.Gpu.MemoryFreeBytes, Where: $"GPU {x.Gpu.Index} of {x.Agent.Capacity.Name}"))
            .Concat(cpuOk.Select(a => (a.Capacity.HostMemoryFreeBytes, Where: $"CPU of {a.Capacity.Name}")))
            .MaxBy(x => x.Item1);
        return $"needs {Gib(r.MinMemoryBytes)} of memory (memory plan); the most free is {Gib(largest.Item1)} on {largest.Where}";
    }

    private static string Gib(long bytes) => $"{bytes / (double)(1L << 30):0.#} GiB";
}
