using System.Text.Json.Nodes;

namespace FineTuneLab.Coordinator.Api;

/// <summary><c>GET /openapi.json</c>: an OpenAPI 3 document of the REST routes (docs/api.md has the prose).</summary>
public static class OpenApiEndpoints
{
    private static readonly (string Method, string Path, string Summary, string Content)[] Routes =
    [
        ("post", "/api/artifacts", "Upload an artifact (raw body; query name, kind)", "application/json"),
        ("get", "/api/artifacts/{sha256}", "Download an artifact", "application/octet-stream"),
        ("post", "/api/jobs", "Validate and queue a job (dry_run=true validates only)", "application/json"),
        ("get", "/api/jobs", "List jobs (state, q, project, limit, offset)", "application/json"),
        ("get", "/api/jobs/{id}", "A job: state, cost, progress, error", "application/json"),
        ("post", "/api/jobs/{id}/stop", "Checkpoint and stop", "application/json"),
        ("post", "/api/jobs/{id}/pause", "Pause", "application/json"),
        ("post", "/api/jobs/{id}/resume", "Resume a paused job, or re-queue a stopped one from its last checkpoint", "application/json"),
        ("post", "/api/jobs/{id}/cancel", "Stop without a checkpoint", "application/json"),
        ("get", "/api/jobs/{id}/events", "Trainer events and coordinator events: state, assigned, requeued, state_report, budget_alert, anomaly (after_seq, type)", "application/json"),
        ("get", "/api/jobs/{id}/cost", "The job's spend over time {points: [[unix_ms, spent_usd]], spent_usd, rate_usd_per_hour, projected_usd} (format=json|csv)", "application/json"),
        ("get", "/api/jobs/{id}/metrics", "One row per step (format=json|csv; shape=tensorboard&series=loss for TensorBoard's CSV)", "text/csv"),
        ("get", "/api/jobs/{id}/logs", "Log lines (level, q, after_seq, limit; follow=true for SSE)", "application/json"),
        ("get", "/api/jobs/{id}/stream", "Server-Sent Events of the job", "text/event-stream"),
        ("get", "/api/jobs/{id}/checkpoints", "Uploaded checkpoints", "application/json"),
        ("get", "/api/jobs/{id}/checkpoints/{step}", "A checkpoint as a tar (ETag = SHA-256)", "application/x-tar"),
        ("get", "/api/jobs/{id}/adapter", "The final adapter as a tar", "application/x-tar"),
        ("get", "/api/jobs/{id}/package", "The training package zip", "application/zip"),
        ("get", "/api/jobs/{id}/telemetry", "The job's node telemetry, downsampled {series: [{metric, gpu, points: [[unix_ms, value]]}], gpus, host} (since_ms, max_points, metric)", "application/json"),
        ("get", "/api/agents", "Registered agents", "application/json"),
        ("get", "/api/agents/{id}/telemetry", "An agent's telemetry, downsampled (default: the last hour; since_ms, max_points, metric)", "application/json"),
        ("get", "/api/costs", "Spend per day (UTC), project, agent or job {group_by, from, to, rows: [{key, label, spent_usd, hours, jobs}], total_usd} (group_by, from, to, format=json|csv)", "application/json"),
        ("get", "/metrics", "Prometheus metrics", "text/plain"),
        ("get", "/healthz", "Health", "application/json"),
    ];

    // Declared before QueryParameters: static initializers run in textual order.
    private static readonly (string Name, string[]? Values, string Description)[] TelemetryQuery =
    [
        ("since_ms", null, "Only readings after this time, unix milliseconds"),
        ("max_points", null, "At most this many points per series (2-10000, default 600); each time bucket keeps its lowest and highest reading"),
        ("metric", null, "Comma-separated metric names, e.g. gpu.util,gpu.mem.used (default: all)"),
    ];

    /// <summary>Query parameters per "method path": name, allowed values (null: free text), what it does.</summary>
    private static readonly Dictionary<string, (string Name, string[]? Values, string Description)[]> QueryParameters = new()
    {
        ["get /api/costs"] =
        [
            ("group_by", ["day", "project", "agent", "job"], "How to slice the spend (default day)"),
            ("from", null, "First UTC day included, YYYY-MM-DD (default: the first)"),
            ("to", null, "Last UTC day included, YYYY-MM-DD (default: the last)"),
            ("format", ["json", "csv"], "json (default) or csv with the header key,label,spent_usd,hours,jobs"),
        ],
        ["get /api/jobs/{id}/cost"] = [("format", ["json", "csv"], "json (default) or csv with the header unix_ms,time,spent_usd")],
        ["get /api/jobs/{id}/events"] =
        [
            ("after_seq", null, "Only events after this feed position (an event's id)"),
            ("type", null, "Only events of this type"),
        ],
        ["get /api/jobs/{id}/telemetry"] = TelemetryQuery,
        ["get /api/agents/{id}/telemetry"] = TelemetryQuery,
        ["get /api/jobs/{id}/metrics"] =
        [
            ("format", ["json", "csv"], "json (default) or csv"),
            ("shape", ["tensorboard"], "tensorboard: one series as TensorBoard's Wall time,Step,Value CSV (needs series)"),
            ("series", null, "The column to export with shape=tensorboard, e.g. loss, eval_loss, lr"),
        ],
    };

    public static JsonObject Document()
    {
        var paths = new JsonObject();
        foreach (var (method, path, summary, content) in Routes)
        {
            if (paths[path] is not JsonObject item) paths[path] = item = new JsonObject();
            var parameters = new JsonArray();
            foreach (var segment in path.Split('/').Where(s => s.StartsWith('{')))
                parameters.Add(new JsonObject { ["name"] = segment.Trim('{', '}'), ["in"] = "path", ["required"] = true, ["schema"] = new JsonObject { ["type"] = "string" } });
            var query = QueryParameters.GetValueOrDefault($"{method} {path}") ?? [];
            foreach (var (name, values, description) in query)
            {
                var schema = new JsonObject { ["type"] = "string" };
                if (values is not null) schema["enum"] = new JsonArray(values.Select(v => (JsonNode)v).ToArray());
                parameters.Add(new JsonObject { ["name"] = name, ["in"] = "query", ["required"] = false, ["description"] = description, ["schema"] = schema });
            }
            var contents = new JsonObject { [content] = new JsonObject() };
            if (query.Any(q => q.Name == "format")) contents["text/csv"] = new JsonObject();
            item[method] = new JsonObject
            {
                ["summary"] = summary,
                ["parameters"] = parameters,
                ["responses"] = new JsonObject
                {
                    ["200"] = new JsonObject { ["description"] = "OK", ["content"] = contents },
                    ["4XX"] = new JsonObject { ["description"] = "{\"error\", \"details\"}" },
                },
            };
        }
        return new JsonObject
        {
            ["openapi"] = "3.0.3",
            ["info"] = new JsonObject { ["title"] = "FineTuneLab coordinator", ["version"] = "1" },
            ["components"] = new JsonObject { ["securitySchemes"] = new JsonObject { ["bearer"] = new JsonObject { ["type"] = "http", ["scheme"] = "bearer" } } },
            ["security"] = new JsonArray(new JsonObject { ["bearer"] = new JsonArray() }),
            ["paths"] = paths,
        };
    }

    public static void MapOpenApi(this IEndpointRouteBuilder endpoints) =>
        endpoints.MapGet("/openapi.json", (RequestDelegate)(http => ApiSupport.Write(http, Document())));
}
