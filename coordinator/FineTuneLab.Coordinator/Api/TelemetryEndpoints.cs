using FineTuneLab.Coordinator.Store;
using System.Globalization;
using Microsoft.AspNetCore.Http.HttpResults;
using FineTuneLab.Coordinator.AgentGateway;
using static FineTuneLab.Coordinator.Api.ApiSupport;

namespace FineTuneLab.Coordinator.Api;

/// <summary>Telemetry series of a job or an agent, with the GPUs (and host) they were read on.</summary>
public sealed record TelemetryAnswer(IReadOnlyList<TelemetrySeriesView> Series, IReadOnlyList<TelemetryGpu> Gpus, TelemetryHost? Host);

/// <summary>One metric of one GPU (gpu -1: host-wide) as <c>[unix_ms, value]</c> points.</summary>
public sealed record TelemetrySeriesView(string Metric, int Gpu, IReadOnlyList<double[]> Points);

public sealed record TelemetryGpu(uint Index, string Name, ulong MemoryTotalBytes);

public sealed record TelemetryHost(uint LogicalCores, ulong MemoryTotalBytes);

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

    public static void MapJobTelemetry(this RouteGroupBuilder jobs) =>
        Document(jobs.MapGet("/{id}/telemetry", Job))
            .WithSummary("The job's node telemetry, downsampled {series: [{metric, gpu, points: [[unix_ms, value]]}], gpus, host} (since_ms, max_points, metric)");

    public static void MapAgentTelemetry(this RouteGroupBuilder agents) =>
        Document(agents.MapGet("/{id}/telemetry", Agent))
            .WithSummary("An agent's telemetry, downsampled (default: the last hour; since_ms, max_points, metric)");

    private static RouteHandlerBuilder Document(RouteHandlerBuilder endpoint) => endpoint
        .Query("since_ms", "Only readings after this time, unix milliseconds")
        .Query("max_points", $"At most this many points per series (2-{MostPoints}, default {DefaultMaxPoints}); each time bucket keeps its lowest and highest reading")
        .Query("metric", "Comma-separated metric names, e.g. gpu.util,gpu.mem.used (default: all)");

    private static Results<Ok<TelemetryAnswer>, ProblemHttpResult> Job(string id, HttpRequest request, CoordinatorRuntime rt)
    {
        if (rt.Jobs.Get(id) is not { } job) return NotFound($"job {id} not found");
        if (!TryReadQuery(request, 0, out var query, out var problem)) return BadRequest(problem);
        var (series, agentIds) = TelemetrySeries.ForJob(rt.Store, job.Id, query.SinceMs, query.Metrics, query.MaxPoints);
        if (job.AgentId is { } current) agentIds.Add(current);
        return TypedResults.Ok(Answer(series, rt.Agents.List().Where(a => agentIds.Contains(a.Id, StringComparer.Ordinal)).ToList()));
    }

    private static Results<Ok<TelemetryAnswer>, ProblemHttpResult> Agent(string id, HttpRequest request, CoordinatorRuntime rt)
    {
        if (rt.Agents.List().FirstOrDefault(a => a.Id == id) is not { } agent) return NotFound($"agent {id} not found");
        var defaultSince = DateTimeOffset.UtcNow.Subtract(DefaultAgentWindow).ToUnixTimeMilliseconds();
        if (!TryReadQuery(request, defaultSince, out var query, out var problem)) return BadRequest(problem);
        return TypedResults.Ok(Answer(TelemetrySeries.ForAgent(rt.Store, agent.Id, query.SinceMs, query.Metrics, query.MaxPoints), [agent]));
    }

    private sealed record TelemetryQuery(long SinceMs, int MaxPoints, IReadOnlyList<string>? Metrics);

    private static bool TryReadQuery(HttpRequest request, long defaultSinceMs, out TelemetryQuery query, out string problem)
    {
        query = new TelemetryQuery(defaultSinceMs, DefaultMaxPoints, null);
        problem = "";
        var since = Query(request, "since_ms");
        long sinceMs = defaultSinceMs;
        if (!string.IsNullOrEmpty(since) && !long.TryParse(since, NumberStyles.Integer, CultureInfo.InvariantCulture, out sinceMs))
        {
            problem = $"since_ms must be unix milliseconds (an integer), got '{since}'";
            return false;
        }
        var max = Query(request, "max_points");
        var maxPoints = DefaultMaxPoints;
        if (!string.IsNullOrEmpty(max) && (!int.TryParse(max, NumberStyles.Integer, CultureInfo.InvariantCulture, out maxPoints) || maxPoints is < 2 or > MostPoints))
        {
            problem = $"max_points must be an integer from 2 to {MostPoints}, got '{max}'";
            return false;
        }
        var metrics = Query(request, "metric")?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        query = new TelemetryQuery(sinceMs, maxPoints, metrics is { Length: > 0 } ? metrics : null);
        return true;
    }

    // Bound as text: a malformed number is answered with what it should have been, naming the parameter.
    private static string? Query(HttpRequest request, string name) => request.Query.TryGetValue(name, out var v) ? v.ToString() : null;

    private static TelemetryAnswer Answer(List<TelemetrySeriesData> series, List<AgentRow> agents)
    {
        // A job that moved between agents lists each GPU index once (its first agent's); host memory likewise.
        var gpus = new Dictionary<uint, TelemetryGpu>();
        foreach (var g in agents.SelectMany(a => a.Inventory.Gpus))
            gpus.TryAdd(g.Index, new TelemetryGpu(g.Index, g.Name, g.MemoryTotalBytes));
        var cpu = agents.Select(a => a.Inventory.Cpu).FirstOrDefault(c => c is not null);
        return new TelemetryAnswer(
            series.Select(s => new TelemetrySeriesView(s.Metric, s.Gpu, s.Points.Select(p => new[] { p.UnixMs, p.Value }).ToList())).ToList(),
            gpus.OrderBy(g => g.Key).Select(g => g.Value).ToList(),
            cpu is null ? null : new TelemetryHost(cpu.LogicalCores, cpu.MemoryTotalBytes));
    }
}
