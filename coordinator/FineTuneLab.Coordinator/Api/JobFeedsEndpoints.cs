using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using FineTuneLab.Coordinator.Jobs;
using FineTuneLab.Events;
using static FineTuneLab.Coordinator.Api.ApiSupport;

namespace FineTuneLab.Coordinator.Api;

/// <summary>A job's events, per-step metrics (JSON or CSV), logs (optionally followed) and the live SSE stream.</summary>
public static class JobFeedsEndpoints
{
    private static readonly string[] MetricColumns =
        ["step", "epoch", "loss", "lr", "grad_norm", "tokens_per_s", "samples_per_s", "eval_loss", "token_accuracy", "elapsed_s", "cost_usd"];

    public static void MapJobFeeds(this IEndpointRouteBuilder endpoints, Func<CoordinatorRuntime?> runtime)
    {
        endpoints.MapGet("/api/jobs/{id}/events", With(runtime, async (http, rt) =>
        {
            if (rt.Jobs.Get(RouteId(http)) is not { } job) { await Error(http, 404, $"job {RouteId(http)} not found"); return; }
            var events = JobEvents.Read(rt.Store, job.Id, QueryInt(http, "after_seq", 0), Query(http, "type"), log: rt.Log);
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
            // Woken by the commits that touch the job (its log lines, its transitions), never by a poll of the table.
            using var live = rt.Feed.Subscribe(job.Id);
            while (!http.RequestAborted.IsCancellationRequested)
            {
                foreach (var l in JobEvents.Logs(rt.Store, job.Id, after, Query(http, "level"), Query(http, "q"), 1000))
                {
                    await Sse(http, l.Id, "log", LogJson(l));
                    after = l.Id;
                }
                if (JobStates.IsTerminal(rt.Jobs.Get(job.Id)!.State) && JobEvents.Logs(rt.Store, job.Id, after, null, null, 1).Count == 0) return;
                await Next(live, http);
            }
        }));
        endpoints.MapGet("/api/jobs/{id}/stream", With(runtime, async (http, rt) =>
        {
            if (rt.Jobs.Get(RouteId(http)) is not { } job) { await Error(http, 404, $"job {RouteId(http)} not found"); return; }
            long after = long.TryParse(http.Request.Headers["Last-Event-ID"].ToString(), out var last) ? last : QueryInt(http, "after_seq", 0);
            StartSse(http);
            // Subscribed before the log is read, so nothing committed after the read is missed; the log replays what
            // came before (from Last-Event-ID on). Positions are handed out under the store's write lock, so they grow
            // in commit order; two commits may still publish in either order, hence the set of what was sent.
            using var live = rt.Feed.Subscribe(job.Id);
            var sent = new HashSet<long>();
            async Task Send(IEnumerable<JobLogEntry> entries)
            {
                foreach (var e in entries)
                    if (e.Id > after && sent.Add(e.Id)) await Sse(http, e.Id, e.Type, e.Json);
            }
            async Task Replay()
            {
                var from = after;
                while (JobEvents.Read(rt.Store, job.Id, from, null, 1000, rt.Log) is { Count: > 0 } page)
                {
                    await Send(page);
                    from = page[^1].Id;
                }
            }
            await Replay();
            string? state = null;
            while (!http.RequestAborted.IsCancellationRequested)
            {
                var now = rt.Jobs.Get(job.Id)!;
                if (now.State != state)
                {
                    state = now.State;
                    await Sse(http, null, "state", new JsonObject { ["state"] = now.State, ["stop_reason"] = now.StopReason }.ToJsonString());
                }
                await Sse(http, null, "cost", JobView.CostJson(JobProjection.Cost(now, JobEvents.Latest<StepEvent>(rt.Store, job.Id))).ToJsonString());
                if (JobStates.IsTerminal(now.State)) return;
                var entries = await Next(live, http);
                if (live.TakeOverflow()) await Replay(); else await Send(entries);
            }
        }));
    }

    /// <summary>
    /// One row per optimizer step (the latest report wins after a resume), eval results joined by step. A step's
    /// <c>cost_usd</c> is the job's spend when it ran: the spend before its run (from that run's <c>assigned</c>
    /// event) plus the run's frozen price over the trainer's elapsed time.
    /// </summary>
    public static List<JsonObject> MetricRows(CoordinatorRuntime rt, JobRow job) =>
        JobProjection.MetricRows(JobEvents.Read(rt.Store, job.Id, 0, null, int.MaxValue, rt.Log)).Select(MetricJson).ToList();

    private static JsonObject MetricJson(MetricRow r)
    {
        var o = new JsonObject
        {
            ["step"] = r.Step, ["at"] = r.At, ["epoch"] = JobView.Number(r.Epoch), ["loss"] = JobView.Number(r.Loss), ["lr"] = JobView.Number(r.Lr),
            ["grad_norm"] = JobView.Number(r.GradNorm), ["tokens_per_s"] = JobView.Number(r.TokensPerS),
            ["samples_per_s"] = JobView.Number(r.SamplesPerS), ["elapsed_s"] = JobView.Number(r.ElapsedS), ["cost_usd"] = JobView.Number(r.CostUsd),
        };
        if (r.EvalLoss is { } loss) o["eval_loss"] = JobView.Number(loss);
        if (r.TokenAccuracy is { } accuracy) o["token_accuracy"] = JobView.Number(accuracy);
        return o;
    }

    private static string Csv(JsonValue v) =>
        v.TryGetValue<double>(out var d) ? d.ToString("R", CultureInfo.InvariantCulture) : v.ToString();

    private static JsonObject EventJson(JobLogEntry e) =>
        new() { ["id"] = e.Id, ["type"] = e.Type, ["at"] = e.At, ["data"] = JsonNode.Parse(e.Json) };

    private static JsonObject LogJson(JobLogRow l) =>
        new() { ["seq"] = l.Id, ["at"] = l.At, ["level"] = l.Level, ["source"] = l.Source, ["text"] = l.Text };

    private static void StartSse(HttpContext http)
    {
        http.Response.ContentType = "text/event-stream";
        http.Response.Headers.CacheControl = "no-cache";
    }

    private static async Task Sse(HttpContext http, long? id, string type, JsonNode? data) => await Sse(http, id, type, data?.ToJsonString() ?? "null");

    /// <param name="json">The event's data, one line of JSON as stored.</param>
    private static async Task Sse(HttpContext http, long? id, string type, string json)
    {
        var text = (id is { } i ? $"id: {i}\n" : "") + $"event: {type}\ndata: {json}\n\n";
        await http.Response.WriteAsync(text, http.RequestAborted);
        await http.Response.Body.FlushAsync(http.RequestAborted);
    }

    /// <summary>
    /// Waits for the job's next commit. The wait is bounded only so that an idle stream still sends its cost now and
    /// then (a heartbeat bills without a new event) and notices a client that left.
    /// </summary>
    private static async Task<List<JobLogEntry>> Next(JobFeedHub.Subscription live, HttpContext http)
    {
        try { return await live.NextAsync(TimeSpan.FromSeconds(5), http.RequestAborted); }
        catch (OperationCanceledException) { return []; }
    }
}
