using FineTuneLab.Coordinator.Store;
using FineTuneLab.Events;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;

namespace FineTuneLab.Coordinator.Jobs;

/// <summary>Hands out the global ingest order (the feeds' cursor) to whoever stores an event or a log line.</summary>
public interface IIngestOrder
{
    long Next();
}

/// <summary>
/// One entry of a job's log, in ingest order: a trainer event (<see cref="TrainerEvent"/>) or an event the
/// coordinator raised (<see cref="JobEventBody"/>), typed once when read back; <see cref="Json"/> is its stored
/// form (the trainer's EventJson, or the body's documented JSON).
/// </summary>
public sealed record JobLogEntry(long Id, string JobId, string Type, string At, string Json, object Body);

/// <summary>A stored log line of a job, in ingest order.</summary>
public sealed record JobLogRow(long Id, string At, string Level, string Source, string Text);

/// <summary>
/// The job's append-only log (the events table: the feeds behind /events, /metrics and /stream) and its log lines.
/// Trainer events come in through the ingest; the coordinator's own events (<see cref="JobEventBody"/>) go in with
/// agent_id '' and seq = ingest id, in the transaction of the change that raised them.
/// </summary>
public static class JobEvents
{
    /// <summary>Types of the coordinator's own events (<see cref="JobEventBody"/>).</summary>
    public const string Assigned = "assigned", Requeued = "requeued", State = "state", StateReport = "state_report",
        BudgetAlert = "budget_alert", Anomaly = "anomaly";

    /// <summary>
    /// Appends a coordinator event inside the caller's transaction with the feed position <paramref name="ingestId"/>.
    /// With a <paramref name="key"/>, a second event of the job with the same key is not written (null): e.g. a budget
    /// alert is raised once per budget.
    /// </summary>
    internal static JobLogEntry? Append(SqliteConnection c, long ingestId, string jobId, JobEventBody body, string? key = null)
    {
        var (json, at) = (body.ToJson(), Sql.Now());
        return EventRows.Append(c, ingestId, jobId, body.Type, json, at, key) ? new JobLogEntry(ingestId, jobId, body.Type, at, json, body) : null;
    }

    /// <summary>
    /// Types a stored row once: a coordinator event through its record (a malformed one is refused with the reason),
    /// a trainer event through <see cref="TypeTrainerEvent"/>.
    /// </summary>
    public static bool TryRead(long id, string jobId, string type, string at, string json, out JobLogEntry? entry, out string? reason)
    {
        entry = null;
        object? body;
        if (CoordinatorTypes.Contains(type))
        {
            reason = null;
            try { body = JobEventBody.Parse(type, json); }
            catch (System.Text.Json.JsonException ex) { reason = ex.Message; return false; }
        }
        else body = TypeTrainerEvent(type, json, out reason);
        if (body is null) return false;
        entry = new JobLogEntry(id, jobId, type, at, json, body);
        return true;
    }

    /// <summary>
    /// A relayed trainer event as its shared record; one <see cref="EventJson"/> refuses as an <see cref="UntypedEvent"/>
    /// with the reason (shown as relayed, read by no decision); null, with the reason, for text that is not a JSON object.
    /// </summary>
    public static object? TypeTrainerEvent(string type, string json, out string? reason)
    {
        if (EventJson.TryParse(json, out var e, out reason))
        {
            if (EventJson.TypeName(e) == type) return e;
            reason = $"sent as '{type}' but is a '{EventJson.TypeName(e)}' event";
            return new UntypedEvent(reason);
        }
        try
        {
            using var doc = System.Text.Json.JsonDocument.Parse(json);
            if (doc.RootElement.ValueKind == System.Text.Json.JsonValueKind.Object) return new UntypedEvent(reason);
        }
        catch (System.Text.Json.JsonException) { }
        return null;
    }

    private static readonly HashSet<string> CoordinatorTypes = [Assigned, Requeued, State, StateReport, BudgetAlert, Anomaly];

    /// <summary>The job's log after <paramref name="afterId"/>, typed; rows that cannot be read are skipped, each logged with its reason.</summary>
    public static List<JobLogEntry> Read(CoordinatorStore store, string jobId, long afterId = 0, string? type = null, int limit = 10_000, ILogger? log = null) =>
        Typed(EventRows.After(store, jobId, afterId, type, limit), log);

    /// <summary>The job's last <paramref name="count"/> entries of one type, newest first.</summary>
    public static List<JobLogEntry> Last(CoordinatorStore store, string jobId, string type, int count, ILogger? log = null) =>
        Typed(EventRows.Last(store, jobId, type, count), log);

    /// <summary>The job's latest trainer event of type <typeparamref name="T"/>, if any.</summary>
    public static T? Latest<T>(CoordinatorStore store, string jobId) where T : TrainerEvent =>
        Last(store, jobId, TypeOf<T>(), 1).Select(e => e.Body).OfType<T>().FirstOrDefault();

    /// <summary>The job's first trainer event of type <typeparamref name="T"/>, if any.</summary>
    public static T? First<T>(CoordinatorStore store, string jobId) where T : TrainerEvent =>
        EventRows.First(store, jobId, TypeOf<T>()) is { } row ? Typed([row], null).Select(e => e.Body).OfType<T>().FirstOrDefault() : null;

    /// <summary>Every log entry after <paramref name="afterId"/> (any job), typed: what a watcher of new events reads.</summary>
    public static List<JobLogEntry> Since(CoordinatorStore store, long afterId, string type, ILogger? log = null) =>
        Typed(EventRows.Since(store, afterId, type), log);

    /// <summary>The highest feed position stored so far.</summary>
    public static long LastId(CoordinatorStore store) => EventRows.LastId(store);

    public static string TypeOf<T>() where T : TrainerEvent => typeof(T).Name switch
    {
        nameof(StartEvent) => "start", nameof(StepEvent) => "step", nameof(EvalEvent) => "eval", nameof(CheckpointEvent) => "checkpoint",
        nameof(LogEvent) => "log", nameof(WarningEvent) => "warning", nameof(ErrorEvent) => "error", nameof(DoneEvent) => "done",
        var n => throw new ArgumentOutOfRangeException(nameof(T), n, "not an event type of the contract"),
    };

    private static List<JobLogEntry> Typed(List<EventRow> rows, ILogger? log)
    {
        var entries = new List<JobLogEntry>(rows.Count);
        foreach (var (id, jobId, type, json, at) in rows)
        {
            if (TryRead(id, jobId, type, at, json, out var entry, out var reason)) entries.Add(entry!);
            else log?.LogWarning("job {Job}: stored event {Id} ({Type}) skipped: {Reason}", jobId, id, type, reason);
        }
        return entries;
    }

    public static List<JobLogRow> Logs(CoordinatorStore store, string jobId, long afterId, string? level, string? q, int limit) =>
        EventRows.Logs(store, jobId, afterId, level, q, limit);
}
