using FineTuneLab.Coordinator.Store;
using System.Globalization;
using System.Text.Json.Nodes;
using FineTuneLab.Coordinator.AgentGateway;
using static FineTuneLab.Coordinator.Api.ApiSupport;

namespace FineTuneLab.Coordinator.Api;

/// <summary>
/// <c>GET /api/jobs/{id}/telemetry</c> and <c>GET /api/agents/{id}/telemetry</c> (query: <c>since_ms</c>, <c>max_points</c>,
/// <c>metric</c>, a comma-separated list): the stored GPU and host readings as per-(metric, GPU) series of
/// <c>[unix_ms, value]</c>, downsampled on the server, with the GPUs (and host memory) of the agents involved.
/// </summary>
public static class TelemetryEndpoints
{
    public const int DefaultMaxPoints = 600;
    public const int MostPoints = 10_000;
    /// <summary>An agent's default window: the last hour (a job's is its whole run).</summary>
    public static readonly TimeSpan DefaultAgentWindow = TimeSpan.FromHours(1);

    public static void MapTelemetry(this IEndpointRouteBuilder endpoints, Func<CoordinatorRuntime?> runtime)
    {
        endpoints.MapGet("/api/jobs/{id}/telemetry", With(runtime, async (http, rt) =>
        {
            if (rt.Jobs.Get(RouteId(http)) is not { } job) { await Error(http, 404, $"job {RouteId(http)} not found"); return; }
            if (!TryReadQuery(http, 0, out var query, out var problem)) { await Error(http, 400, problem); return; }
            var (series, agentIds) = TelemetrySeries.ForJob(rt.Store, job.Id, query.SinceMs, query.Metrics, query.MaxPoints);
            if (job.AgentId is { } current) agentIds.Add(current);
            await Write(http, Answer(series, rt.Agents.List().Where(a => agentIds.Contains(a.Id, StringComparer.Ordinal)).ToList()));
        }));
        endpoints.MapGet("/api/agents/{id}/telemetry", With(runtime, async (http, rt) =>
        {
            if (rt.Agents.List().FirstOrDefault(a => a.Id == RouteId(http)) is not { } agent) { await Error(http, 404, $"agent {RouteId(http)} not found"); return; }
            var defaultSince = DateTimeOffset.UtcNow.Subtract(DefaultAgentWindow).ToUnixTimeMilliseconds();
            if (!TryReadQuery(http, defaultSince, out var query, out var problem)) { await Error(http, 400, problem); return; }
            await Write(http, Answer(TelemetrySeries.ForAgent(rt.Store, agent.Id, query.SinceMs, query.Metrics, query.MaxPoints), [agent]));
        }));
    }

    private sealed record TelemetryQuery(long SinceMs, int MaxPoints, IReadOnlyList<string>? Metrics);

    private static bool TryReadQuery(HttpContext http, long defaultSinceMs, out TelemetryQuery query, out string problem)
    {
        query = new TelemetryQuery(defaultSinceMs, DefaultMaxPoints, null);
        problem = "";
        var since = Query(http, "since_ms");
        long sinceMs = defaultSinceMs;
        if (!string.IsNullOrEmpty(since) && !long.TryParse(since, NumberStyles.Integer, CultureInfo.InvariantCulture, out sinceMs))
        {
            problem = $"since_ms must be unix milliseconds (an integer), got '{since}'";
            return false;
        }
        var max = Query(http, "max_points");
        var maxPoints = DefaultMaxPoints;
        if (!string.IsNullOrEmpty(max) && (!int.TryParse(max, NumberStyles.Integer, CultureInfo.InvariantCulture, out maxPoints) || maxPoints is < 2 or > MostPoints))
        {
            problem = $"max_points must be an integer from 2 to {MostPoints}, got '{max}'";
            return false;
        }
        var metrics = Query(http, "metric")?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        query = new TelemetryQuery(sinceMs, maxPoints, metrics is { Length: > 0 } ? metrics : null);
        return true;
    }

    private static JsonObject Answer(List<TelemetrySeriesData> series, List<AgentRow> agents)
    {
        // A job that moved between agents lists each GPU index once (its first agent's); host memory likewise.
        var gpus = new Dictionary<uint, JsonObject>();
        foreach (var g in agents.SelectMany(a => a.Inventory.Gpus))
            gpus.TryAdd(g.Index, new JsonObject { ["index"] = g.Index, ["name"] = g.Name, ["memory_total_bytes"] = g.MemoryTotalBytes });
        var cpu = agents.Select(a => a.Inventory.Cpu).FirstOrDefault(c => c is not null);
        return new JsonObject
        {
            ["series"] = new JsonArray(series.Select(s => (JsonNode)new JsonObject
            {
                ["metric"] = s.Metric, ["gpu"] = s.Gpu,
                ["points"] = new JsonArray(s.Points.Select(p => (JsonNode)new JsonArray(p.UnixMs, p.Value)).ToArray()),
            }).ToArray()),
            ["gpus"] = new JsonArray(gpus.OrderBy(g => g.Key).Select(g => (JsonNode)g.Value).ToArray()),
            ["host"] = cpu is null ? null : new JsonObject { ["logical_cores"] = cpu.LogicalCores, ["memory_total_bytes"] = cpu.MemoryTotalBytes },
        };
    }
}
