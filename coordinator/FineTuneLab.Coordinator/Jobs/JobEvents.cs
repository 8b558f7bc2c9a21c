using System.Text.Json.Nodes;
using FineTuneLab.Coordinator.Store;

namespace FineTuneLab.Coordinator.Jobs;

/// <summary>One stored event of a job (a trainer event or an agent's state report), in ingest order.</summary>
public sealed record JobEventRow(long Id, string Type, string Json, string At);

/// <summary>A stored log line of a job, in ingest order.</summary>
public sealed record JobLogRow(long Id, string At, string Level, string Source, string Text);

/// <summary>Reads a job's events and logs (the feeds behind /events, /metrics, /logs and /stream).</summary>
public static class JobEvents
{
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
