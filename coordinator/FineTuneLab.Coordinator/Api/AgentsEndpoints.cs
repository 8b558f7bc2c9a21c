using FineTuneLab.Coordinator.AgentGateway;
using FineTuneLab.Coordinator.Store;

namespace FineTuneLab.Coordinator.Api;

/// <summary>A registered agent: its state (online only while its session is open), hardware, price and current job.</summary>
public sealed record AgentView(string Id, string Name, string State, string Provider, double PricePerHour, IReadOnlyList<AgentGpuView> Gpus,
    AgentCpuView Cpu, string? CurrentJobId, string? LastHeartbeatAt, ulong PersistedSeq);

public sealed record AgentGpuView(uint Index, string Name, string Uuid, ulong MemoryTotalBytes, string ComputeCapability);

public sealed record AgentCpuView(string? Model, uint? LogicalCores, ulong? MemoryTotalBytes);

/// <summary><c>GET /api/agents</c>: every registered agent, its state, GPUs and current job.</summary>
public static class AgentsEndpoints
{
    public static void MapAgents(this RouteGroupBuilder agents) =>
        agents.MapGet("", (AgentStore store, AgentSessions sessions) => TypedResults.Ok(List(store, sessions))).WithSummary("Registered agents");

    private static List<AgentView> List(AgentStore store, AgentSessions sessions)
    {
        var connected = sessions.Connected;
        return store.List().Select(a => new AgentView(a.Id, a.Name, a.State == "online" && !connected.Contains(a.Id) ? "offline" : a.State,
            a.Inventory.Provider, a.PricePerHour,
            a.Inventory.Gpus.Select(g => new AgentGpuView(g.Index, g.Name, g.Uuid, g.MemoryTotalBytes, $"{g.ComputeCapabilityMajor}.{g.ComputeCapabilityMinor}")).ToList(),
            new AgentCpuView(a.Inventory.Cpu?.Model, a.Inventory.Cpu?.LogicalCores, a.Inventory.Cpu?.MemoryTotalBytes),
            a.CurrentJobId, a.LastSeenAt, a.PersistedSeq)).ToList();
    }
}
