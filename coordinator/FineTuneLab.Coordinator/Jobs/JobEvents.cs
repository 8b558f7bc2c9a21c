using System.Text.Json.Nodes;
using FineTuneLab.Coordinator.Store;

namespace FineTuneLab.Coordinator.Jobs;

/// <summary>Hands out the global ingest order (the feeds' cursor) to whoever stores an event or a log line.</summary>
public interface IIngestOrder
{
    long Next();
}

/// <summary>One stored event of a job (a trainer event or an agent's state report), in ingest order.</summary>
public sealed record JobEventRow(long Id, string Type, string Json, string At);

/// <summary>A stored log line of a job, in ingest order.</summary>
public sealed record JobLogRow(long Id, string At, string Level, string Source, string Text);

/// <summary>Reads a job's events and logs (the feeds behind /events, /metrics, /logs and /stream), and records the coordinator's own events.</summary>
public static class JobEvents
{
    /// <summary>
    /// Records an event the coordinator itself raises about a job (a budget alert, an anomaly) in the job's feed, in
    /// ingest order with the agents' events. The row is filed under the agent that holds or last held the job (the
    /// table keys events by agent) with a negative sequence number, which no agent's outbox uses. Returns false when
    /// no agent ever held the job (nothing to file it under).
    /// </summary>
    public static bool Append(CoordinatorStore store, IIngestOrder ids, string jobId, string type, JsonObject body)
    {
        using var c = store.OpenConnection();
        var agentId = Sql.Scalar(c, "SELECT agent_id FROM jobs WHERE id = $j", ("$j", jobId)) as string
                      ?? Sql.Scalar(c, "SELECT agent_id FROM events WHERE job_id = $j ORDER BY ingest_id DESC LIMIT 1", ("$j", jobId)) as string;
        if (agentId is null) return false;
        var ingestId = ids.Next();
        var json = new JsonObject { ["type"] = type, ["source"] = "coordinator", ["time"] = DateTimeOffset.UtcNow.ToString("O", System.Globalization.CultureInfo.InvariantCulture) };
        foreach (var (k, v) in body) json[k] = v?.DeepClone();
        Sql.Execute(c, "INSERT INTO events (agent_id, seq, job_id, trainer_seq, type, json, at, ingest_id) VALUES ($a, $s, $j, NULL, $t, $js, $at, $i)",
            ("$a", agentId), ("$s", -ingestId), ("$j", jobId), ("$t", type), ("$js", json.ToJsonString()), ("$at", Sql.Now()), ("$i", ingestId));
        return true;
    }

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
