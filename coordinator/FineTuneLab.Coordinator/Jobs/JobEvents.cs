using System.Text.Json.Nodes;
using FineTuneLab.Coordinator.Store;
using Microsoft.Data.Sqlite;

namespace FineTuneLab.Coordinator.Jobs;

/// <summary>Hands out the global ingest order (the feeds' cursor) to whoever stores an event or a log line.</summary>
public interface IIngestOrder
{
    long Next();
}

/// <summary>One stored event of a job (a trainer event, an agent's state report or a coordinator event), in ingest order.</summary>
public sealed record JobEventRow(long Id, string Type, string Json, string At);

/// <summary>A stored log line of a job, in ingest order.</summary>
public sealed record JobLogRow(long Id, string At, string Level, string Source, string Text);

/// <summary>
/// Reads a job's events and logs (the feeds behind /events, /metrics, /logs and /stream), and writes the events the
/// coordinator raises itself into the same feed (docs/api.md, "Job events"): agent_id '' and seq = ingest id.
/// </summary>
public static class JobEvents
{
    /// <summary>The job was placed on an agent: agent_id, agent_name, gpu_index, gpu_name, price_per_hour, resume_checkpoint.</summary>
    public const string Assigned = "assigned";
    /// <summary>The job went back to the queue: reason, agent_id, restarts, max_restarts, resume_checkpoint.</summary>
    public const string Requeued = "requeued";
    /// <summary>A transition: from, to, reason, by (scheduler, user, agent, coordinator); agent reports add their details.</summary>
    public const string State = "state";
    /// <summary>An agent's state report that moved nothing (stale, not its job, or already in that state).</summary>
    public const string StateReport = "state_report";

    /// <summary>
    /// Records an event the coordinator itself raises about a job (a budget alert, an anomaly) in the job's feed, in
    /// ingest order with the agents' events. With a <paramref name="key"/> (e.g. "budget_alert:0.8") it is written at
    /// most once per job. Returns whether it was written.
    /// </summary>
    public static bool Append(CoordinatorStore store, IIngestOrder ids, string jobId, string type, JsonObject body, string? key = null)
    {
        using var c = store.OpenConnection();
        return Insert(c, ids.Next(), jobId, type, body, key);
    }

    /// <summary>
    /// Writes a coordinator event inside the caller's transaction with the feed position <paramref name="ingestId"/>
    /// (from <see cref="IIngestOrder.Next"/>). With a <paramref name="key"/>, a second
    /// event of the job with the same key is not written (false): e.g. "budget_alert:0.8" raises that alert once.
    /// </summary>
    internal static bool Insert(SqliteConnection c, long ingestId, string jobId, string type, JsonObject data, string? key = null) =>
        Sql.Execute(c, """
            INSERT OR IGNORE INTO events (agent_id, seq, job_id, trainer_seq, type, json, at, ingest_id, key)
            VALUES ('', $i, $j, NULL, $t, $js, $at, $i, $k)
            """, ("$i", ingestId), ("$j", jobId), ("$t", type), ("$js", data.ToJsonString()), ("$at", Sql.Now()), ("$k", key)) == 1;

    public static List<JobEventRow> Events(CoordinatorStore store, string jobId, long afterId = 0, string? type = null, int limit = 10_000)
    {
        using var c = store.OpenConnection();
        return Sql.Query(c, "SELECT ingest_id, type, json, at FROM events WHERE job_id = $j AND ingest_id > $a AND ($t IS NULL OR type = $t) ORDER BY ingest_id LIMIT $l",
            r => new JobEventRow(r.GetInt64(0), r.GetString(1), r.GetString(2), r.GetString(3)), ("$j", jobId), ("$a", afterId), ("$t", type), ("$l", limit));
    }

    public static JsonObject? Latest(CoordinatorStore store, string jobId, string type)
    {
        using var c = store.OpenConnection();
        return Sql.Scalar(c, "SELECT json FROM events WHERE job_id = $j AND type = $t ORDER BY ingest_id DESC LIMIT 1", ("$j", jobId), ("$t", type)) is string s
            ? JsonNode.Parse(s) as JsonObject : null;
    }

    public static List<JobLogRow> Logs(CoordinatorStore store, string jobId, long afterId, string? level, string? q, int limit)
    {
        using var c = store.OpenConnection();
        return Sql.Query(c, """
            SELECT ingest_id, at, level, source, text FROM logs
            WHERE job_id = $j AND ingest_id > $a AND ($lv IS NULL OR level = $lv) AND ($q IS NULL OR text LIKE '%' || $q || '%')
            ORDER BY ingest_id LIMIT $l
            """, r => new JobLogRow(r.GetInt64(0), r.GetString(1), r.GetString(2), r.GetString(3), r.GetString(4)),
            ("$j", jobId), ("$a", afterId), ("$lv", level), ("$q", q), ("$l", limit));
    }
}
