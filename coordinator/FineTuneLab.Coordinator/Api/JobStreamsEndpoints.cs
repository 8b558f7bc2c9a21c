using System.Net.ServerSentEvents;
using System.Runtime.CompilerServices;
using System.Text.Json;
using FineTuneLab.Coordinator.Jobs;
using FineTuneLab.Events;
using Microsoft.AspNetCore.Http.HttpResults;
using HttpJsonOptions = Microsoft.AspNetCore.Http.Json.JsonOptions;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;
using static FineTuneLab.Coordinator.Api.ApiSupport;

namespace FineTuneLab.Coordinator.Api;

/// <summary>A stored log line of a job.</summary>
public sealed record LogView(long Seq, string At, string Level, string Source, string Text)
{
    public static LogView Of(JobLogRow l) => new(l.Id, l.At, l.Level, l.Source, l.Text);
}

public sealed record LogList(IReadOnlyList<LogView> Logs);

/// <summary>The <c>state</c> item of a job's stream.</summary>
public sealed record StreamState(string State, string? StopReason);

/// <summary>
/// A job's live feeds as Server-Sent Events, driven by the commits that touch the job (<see cref="JobFeedHub"/>),
/// never by a poll of the tables: <c>/logs</c> (a page of lines, or followed) and <c>/stream</c> (the job's log
/// replayed from <c>Last-Event-ID</c>, then what each commit appends, with the job's state and cost).
/// </summary>
public static class JobStreamsEndpoints
{
    public static void MapJobStreams(this RouteGroupBuilder jobs)
    {
        jobs.MapGet("/{id}/logs", Logs)
            .WithSummary("Log lines (level, q, after_seq, limit; follow=true for SSE)")
            .Produces<LogList>(StatusCodes.Status200OK, "application/json", "text/event-stream")
            .Query("level", "Only lines of this level", QueryChecks.LogLevels);
        jobs.MapGet("/{id}/stream", Stream).WithSummary("Server-Sent Events of the job");
    }

    private static Results<Ok<LogList>, ServerSentEventsResult<string>, ProblemHttpResult> Logs(string id, string? level, string? q,
        [FromQuery(Name = "after_seq")] long? afterSeq, int? limit, bool? follow, HttpRequest request, CoordinatorRuntime rt, IOptions<HttpJsonOptions> json)
    {
        if (rt.Jobs.Get(id) is not { } job) return NotFound($"job {id} not found");
        if (QueryChecks.First(QueryChecks.OneOf("level", level, QueryChecks.LogLevels), QueryChecks.Text("q", q),
                QueryChecks.Range("after_seq", afterSeq, 0, long.MaxValue), QueryChecks.Range("limit", limit, 1, 100_000)) is { } problem)
            return BadRequest(problem);
        if (follow != true && !request.Headers.Accept.ToString().Contains("text/event-stream"))
            return TypedResults.Ok(new LogList(JobEvents.Logs(rt.Store, job.Id, afterSeq ?? 0, level, q, limit ?? 1000)
                .Select(LogView.Of).ToList()));
        return TypedResults.ServerSentEvents(FollowLogs(rt, job.Id, afterSeq ?? 0, level, q, json.Value.SerializerOptions, request.HttpContext.RequestAborted));
    }

    private static async IAsyncEnumerable<SseItem<string>> FollowLogs(CoordinatorRuntime rt, string jobId, long after, string? level, string? q,
        JsonSerializerOptions json, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        // Woken by the commits that touch the job (its log lines, its transitions).
        using var live = rt.Feed.Subscribe(jobId);
        while (!cancellationToken.IsCancellationRequested)
        {
            foreach (var l in JobEvents.Logs(rt.Store, jobId, after, level, q, 1000))
            {
                yield return Item(l.Id, "log", JsonSerializer.Serialize(LogView.Of(l), json));
                after = l.Id;
            }
            if (JobStates.IsTerminal(rt.Jobs.Get(jobId)!.State) && JobEvents.Logs(rt.Store, jobId, after, null, null, 1).Count == 0) yield break;
            await Next(live, cancellationToken);
        }
    }

    private static Results<ServerSentEventsResult<string>, ProblemHttpResult> Stream(string id, [FromQuery(Name = "after_seq")] long? afterSeq,
        [FromHeader(Name = "Last-Event-ID")] string? lastEventId, HttpRequest request, CoordinatorRuntime rt, IOptions<HttpJsonOptions> json)
    {
        if (rt.Jobs.Get(id) is not { } job) return NotFound($"job {id} not found");
        if (QueryChecks.Range("after_seq", afterSeq, 0, long.MaxValue) is { } problem) return BadRequest(problem);
        long? last = null;
        if (!string.IsNullOrEmpty(lastEventId))
        {
            if (!long.TryParse(lastEventId, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var seq))
                return BadRequest($"header 'Last-Event-ID' must be an event id (a whole number), got '{lastEventId}'");
            last = seq;
        }
        var after = last ?? afterSeq ?? 0;
        return TypedResults.ServerSentEvents(StreamJob(rt, job.Id, after, json.Value.SerializerOptions, request.HttpContext.RequestAborted));
    }

    private static async IAsyncEnumerable<SseItem<string>> StreamJob(CoordinatorRuntime rt, string jobId, long after, JsonSerializerOptions json,
        [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        // Subscribed before the log is read, so nothing committed after the read is missed; the log replays what came
        // before (from Last-Event-ID on). Positions are handed out under the store's write lock, so they grow in commit
        // order; two commits may still publish in either order, hence the set of what was sent.
        using var live = rt.Feed.Subscribe(jobId);
        var sent = new HashSet<long>();
        IEnumerable<JobLogEntry> Replay()
        {
            for (var from = after; JobEvents.Read(rt.Store, jobId, from, null, 1000, rt.Log) is { Count: > 0 } page; from = page[^1].Id)
                foreach (var e in page) yield return e;
        }
        var entries = Replay();
        string? state = null;
        while (true)
        {
            foreach (var e in entries)
                if (e.Id > after && sent.Add(e.Id)) yield return Item(e.Id, e.Type, e.Json);
            if (cancellationToken.IsCancellationRequested) yield break;
            var now = rt.Jobs.Get(jobId)!;
            if (now.State != state)
            {
                state = now.State;
                yield return Item(null, "state", JsonSerializer.Serialize(new StreamState(now.State, now.StopReason), json));
            }
            var cost = JobView.Cost(JobProjection.Cost(now, JobEvents.Latest<StepEvent>(rt.Store, jobId)));
            yield return Item(null, "cost", JsonSerializer.Serialize(cost, json));
            if (JobStates.IsTerminal(now.State)) yield break;
            var next = await Next(live, cancellationToken);
            entries = live.TakeOverflow() ? Replay() : next;
        }
    }

    private static SseItem<string> Item(long? id, string type, string json) =>
        new(json, type) { EventId = id?.ToString(System.Globalization.CultureInfo.InvariantCulture) };

    /// <summary>
    /// Waits for the job's next commit. The wait is bounded only so that an idle stream still sends its cost now and
    /// then (a heartbeat bills without a new event) and notices a client that left.
    /// </summary>
    private static async Task<List<JobLogEntry>> Next(JobFeedHub.Subscription live, CancellationToken cancellationToken)
    {
        try { return await live.NextAsync(TimeSpan.FromSeconds(5), cancellationToken); }
        catch (OperationCanceledException) { return []; }
    }
}
