using System.Text.Json.Nodes;
using static FineTuneLab.Coordinator.Api.ApiSupport;

namespace FineTuneLab.Coordinator.Api;

/// <summary><c>GET /api/agents</c>: every registered agent, its state, GPUs and current job.</summary>
public static class AgentsEndpoints
{
    public static void MapAgents(this IEndpointRouteBuilder endpoints, Func<CoordinatorRuntime?> runtime)
    {
        endpoints.MapGet("/api/agents", With(runtime, async (http, rt) =>
        {
            var connected = rt.Sessions.Connected;
            var list = rt.Agents.List().Select(a => (JsonNode)new JsonObject
            {
                ["id"] = a.Id, ["name"] = a.Name,
                ["state"] = a.State == "online" && !connected.Contains(a.Id) ? "offline" : a.State,
                ["provider"] = a.Inventory.Provider, ["price_per_hour"] = a.PricePerHour,
                ["gpus"] = new JsonArray(a.Inventory.Gpus.Select(g => (JsonNode)new JsonObject
                {
                    ["index"] = g.Index, ["name"] = g.Name, ["uuid"] = g.Uuid, ["memory_total_bytes"] = g.MemoryTotalBytes,
                    ["compute_capability"] = $"{g.ComputeCapabilityMajor}.{g.ComputeCapabilityMinor}",
                }).ToArray()),
                ["cpu"] = new JsonObject { ["model"] = a.Inventory.Cpu?.Model, ["logical_cores"] = a.Inventory.Cpu?.LogicalCores, ["memory_total_bytes"] = a.Inventory.Cpu?.MemoryTotalBytes },
                ["current_job_id"] = a.CurrentJobId, ["last_heartbeat_at"] = a.LastSeenAt, ["persisted_seq"] = a.PersistedSeq,
            }).ToArray();
            await Write(http, new JsonArray(list));
        }));
    }
}
