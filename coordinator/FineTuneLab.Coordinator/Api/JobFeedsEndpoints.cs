using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using FineTuneLab.Coordinator.Jobs;
using static FineTuneLab.Coordinator.Api.ApiSupport;

namespace FineTuneLab.Coordinator.Api;

/// <summary>A job's events, per-step metrics (JSON or CSV), logs (optionally followed) and the live SSE stream.</summary>
public static class JobFeedsEndpoints
{
    /// <summary>How long a feed position may stay invisible before its event commits (a few ms in practice).</summary>
    private const long LateCommitMs = 2000;

    private static readonly string[] MetricColumns =
        ["step", "epoch", "loss", "lr", "grad_norm", "tokens_per_s", "samples_per_s", "eval_loss", "token_accuracy", "elapsed_s", "cost_usd"];

    public static void MapJobFeeds(this IEndpointRouteBuilder endpoints, Func<CoordinatorRuntime?> runtime)
    {
        endpoints.MapGet("/api/jobs/{id}/events", With(runtime, async (http, rt) =>
        {
            if (rt.Jobs.Get(RouteId(http)) is not { } job) { await Error(http, 404, $"job {RouteId(http)} not found"); return; }
            var events = JobEvents.Events(rt.Store, job.Id, QueryInt(http, "after_seq", 0), Query(http, "type"));
            await Write(http, new JsonObject { ["events"] = new JsonArray(events.Select(e => (JsonNode)EventJson(e)).ToArray()) });
        }));
        endpoints.MapGet("/api/jobs/{id}/metrics", With(runtime, async (http, rt) =>
        {
            if (rt.Jobs.Get(RouteId(http)) is not { } job) { await Error(http, 404, $"job {RouteId(http)} not found"); return; }
            var rows = MetricRows(rt, job);
            if (Query(http, "shape") is { } shape)
            {
                var series = Query(http, "series");
                if (shape != "tensorboard") { await Error(http, 400, $"shape '{shape}' is not tensorboard"); return; }
                if (series is null || series == "step" || !MetricColumns.Contains(series))
                {
                    await Error(http, 400, $"shape=tensorboard needs series, one of {string.Join(", ", MetricColumns.Skip(1))}");
                    return;
                }
                // TensorBoard's CSV export: wall time in seconds since the epoch, the step, the value; steps without the series are left out.
                var board = new StringBuilder("Wall time,Step,Value\n");
                foreach (var r in rows.Where(r => r[series] is JsonValue && r["at"] is JsonValue))
                {
                    var wall = DateTimeOffset.Parse(r["at"]!.GetValue<string>(), CultureInfo.InvariantCulture).ToUnixTimeMilliseconds() / 1000.0;
                    board.Append(CultureInfo.InvariantCulture, $"{wall.ToString("R", CultureInfo.InvariantCulture)},{r["step"]},{Csv((JsonValue)r[series]!)}\n");
                }
                http.Response.ContentType = "text/csv";
                await http.Response.WriteAsync(board.ToString());
                return;
            }
            if (Query(http, "format") == "csv")
            {
                var csv = new StringBuilder(string.Join(",", MetricColumns)).Append('\n');
                foreach (var r in rows)
                    csv.Append(string.Join(",", MetricColumns.Select(c => r[c] is JsonValue v ? Csv(v) : ""))).Append('\n');
                http.Response.ContentType = "text/csv";
                await http.Response.WriteAsync(csv.ToString());
                return;
            }
            await Write(http, new JsonObject { ["rows"] = new JsonArray(rows.Select(r => (JsonNode)r).ToArray()) });
        }));
        endpoints.MapGet("/api/jobs/{id}/logs", With(runtime, async (http, rt) =>
        {
            if (rt.Jobs.Get(RouteId(http)) is not { } job) { await Error(http, 404, $"job {RouteId(http)} not found"); return; }
            var follow = Query(http, "follow") == "true" || http.Request.Headers.Accept.ToString().Contains("text/event-stream");
            long after = QueryInt(http, "after_seq", 0);
            var limit = Math.Clamp(QueryInt(http, "limit", 1000), 1, 100_000);
            if (!follow)
            {
                var logs = JobEvents.Logs(rt.Store, job.Id, after, Query(http, "level"), Query(http, "q"), limit);
                await Write(http, new JsonObject { ["logs"] = new JsonArray(logs.Select(l => (JsonNode)LogJson(l)).ToArray()) });
                return;
            }
            StartSse(http);
            while (!http.RequestAborted.IsCancellationRequested)
            {
                foreach (var l in JobEvents.Logs(rt.Store, job.Id, after, Query(http, "level"), Query(http, "q"), 1000))
                {
                    await Sse(http, l.Id, "log", LogJson(l));
                    after = l.Id;
                }
                if (JobStates.IsTerminal(rt.Jobs.Get(job.Id)!.State) && JobEvents.Logs(rt.Store, job.Id, after, null, null, 1).Count == 0) return;
                await Pause(http);
            }
        }));
        endpoints.MapGet("/api/jobs/{id}/stream", With(runtime, async (http, rt) =>
        {
            if (rt.Jobs.Get(RouteId(http)) is not { } job) { await Error(http, 404, $"job {RouteId(http)} not found"); return; }
            long after = long.TryParse(http.Request.Headers["Last-Event-ID"].ToString(), out var last) ? last : QueryInt(http, "after_seq", 0);
            StartSse(http);
            string? state = null;
            // An event written by the coordinator takes its feed position just before its transaction commits, so it
            // may become visible after a higher one was sent: each poll reads again from where the stream stood a
            // moment ago and sends only what it has not sent.
            var since = new Queue<(long Tick, long After)>();
            var sent = new HashSet<long>();
            while (!http.RequestAborted.IsCancellationRequested)
            {
                var tick = Environment.TickCount64;
                since.Enqueue((tick, after));
                while (since.Count > 1 && tick - since.Peek().Tick > LateCommitMs) since.Dequeue();
                var from = since.Peek().After;
                sent.RemoveWhere(id => id <= from);
                foreach (var e in JobEvents.Events(rt.Store, job.Id, from, null, 1000))
                {
                    if (!sent.Add(e.Id)) continue;
                    await Sse(http, e.Id, e.Type, JsonNode.Parse(e.Json));
                    after = Math.Max(after, e.Id);
                }
                var now = rt.Jobs.Get(job.Id)!;
                if (now.State != state)
                {
                    state = now.State;
                    await Sse(http, null, "state", new JsonObject { ["state"] = now.State, ["stop_reason"] = now.StopReason });
                }
                await Sse(http, null, "cost", JobView.CostJson(JobCostNow.Of(rt.Store, now)));
                if (JobStates.IsTerminal(now.State)) return;
                await Pause(http);
            }
        }));
    }

    /// <summary>
    /// One row per optimizer step (the latest report wins after a resume), eval results joined by step. A step's
    /// <c>cost_usd</c> is the job's spend when it ran: the spend before its run (from that run's <c>assigned</c>
    /// event) plus the run's frozen price over the trainer's elapsed time.
    /// </summary>
    public static List<JsonObject> MetricRows(CoordinatorRuntime rt, JobRow job)
    {
        var rows = new SortedDictionary<long, JsonObject>();
        var evals = new Dictionary<long, JsonObject>();
        var (before, price) = (0.0, job.PricePerHour ?? 0);
        foreach (var e in JobEvents.Events(rt.Store, job.Id, 0, null, int.MaxValue))
        {
            if (e.Type == JobEvents.Assigned && JsonNode.Parse(e.Json) is JsonObject run)
            {
                before = run["spent_usd_before"]?.GetValue<double>() ?? 0;
                price = run["price_per_hour"]?.GetValue<double>() ?? 0;
                continue;
            }
            if (e.Type is not ("step" or "eval") || JsonNode.Parse(e.Json) is not JsonObject o || o["step"] is not JsonValue sv || !sv.TryGetValue<long>(out var step)) continue;
            if (e.Type == "eval") { evals[step] = o; continue; }
            double? elapsed = o["elapsed_s"] is JsonValue ev && ev.TryGetValue<double>(out var ed) ? ed : null;
            rows[step] = new JsonObject
            {
                ["step"] = step, ["at"] = e.At, ["epoch"] = o["epoch"]?.DeepClone(), ["loss"] = o["loss"]?.DeepClone(), ["lr"] = o["lr"]?.DeepClone(),
                ["grad_norm"] = o["grad_norm"]?.DeepClone(), ["tokens_per_s"] = o["tokens_per_s"]?.DeepClone(),
                ["samples_per_s"] = o["samples_per_s"]?.DeepClone(), ["elapsed_s"] = elapsed,
                ["cost_usd"] = elapsed is { } el ? Math.Round(before + price * el / 3600.0, 8) : null,
            };
        }
        foreach (var (step, ev) in evals)
        {
            if (!rows.TryGetValue(step, out var row)) continue;
            row["eval_loss"] = ev["eval_loss"]?.DeepClone();
            row["token_accuracy"] = ev["token_accuracy"]?.DeepClone();
        }
        return rows.Values.ToList();
    }

    private static string Csv(JsonValue v) =>
        v.TryGetValue<double>(out var d) ? d.ToString("R", CultureInfo.InvariantCulture) : v.ToString();

    private static JsonObject EventJson(JobEventRow e) =>
        new() { ["id"] = e.Id, ["type"] = e.Type, ["at"] = e.At, ["data"] = JsonNode.Parse(e.Json) };

    private static JsonObject LogJson(JobLogRow l) =>
        new() { ["seq"] = l.Id, ["at"] = l.At, ["level"] = l.Level, ["source"] = l.Source, ["text"] = l.Text };

    private static void StartSse(HttpContext http)
    {
        http.Response.ContentType = "text/event-stream";
        http.Response.Headers.CacheControl = "no-cache";
    }

    private static async Task Sse(HttpContext http, long? id, string type, JsonNode? data)
    {
        var text = (id is { } i ? $"id: {i}\n" : "") + $"event: {type}\ndata: {data?.ToJsonString() ?? "null"}\n\n";
        await http.Response.WriteAsync(text, http.RequestAborted);
        await http.Response.Body.FlushAsync(http.RequestAborted);
    }

    private static async Task Pause(HttpContext http)
    {
        try { await Task.Delay(250, http.RequestAborted); } catch (OperationCanceledException) { }
    }
}
