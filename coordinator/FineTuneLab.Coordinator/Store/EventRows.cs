using Microsoft.Data.Sqlite;

namespace FineTuneLab.Coordinator.Store;

/// <summary>A stored row of the events table: feed position, job, type, the event's JSON as stored, time.</summary>
public readonly record struct EventRow(long Id, string JobId, string Type, string Json, string At);

/// <summary>
/// The SQL of a job's log: the events table (trainer events the ingest stores, the coordinator's own events) and the
/// logs table. Rows in and out as stored; <see cref="Jobs.JobEvents"/> types them.
/// </summary>
public static class EventRows
{
    /// <summary>A coordinator event (agent_id '', seq = ingest id); false when <paramref name="key"/> was already used by the job.</summary>
    internal static bool Append(SqliteConnection c, long ingestId, string jobId, string type, string json, string at, string? key) => Sql.Execute(c, """
        INSERT OR IGNORE INTO events (agent_id, seq, job_id, trainer_seq, type, json, at, ingest_id, key)
        VALUES ('', $i, $j, NULL, $t, $js, $at, $i, $k)
        """, ("$i", ingestId), ("$j", jobId), ("$t", type), ("$js", json), ("$at", at), ("$k", key)) == 1;

    public static List<EventRow> After(CoordinatorStore store, string jobId, long afterId, string? type, int limit)
    {
        using var c = store.OpenConnection();
        return Sql.Query(c, "SELECT ingest_id, job_id, type, json, at FROM events WHERE job_id = $j AND ingest_id > $a AND ($t IS NULL OR type = $t) ORDER BY ingest_id LIMIT $l",
            Read, ("$j", jobId), ("$a", afterId), ("$t", type), ("$l", limit));
    }

    /// <summary>The job's last <paramref name="count"/> rows of one type, newest first.</summary>
    public static List<EventRow> Last(CoordinatorStore store, string jobId, string type, int count)
    {
        using var c = store.OpenConnection();
        return Sql.Query(c, "SELECT ingest_id, job_id, type, json, at FROM events WHERE job_id = $j AND type = $t ORDER BY ingest_id DESC LIMIT $l",
            Read, ("$j", jobId), ("$t", type), ("$l", count));
    }

    /// <summary>The job's first row of one type (e.g. the trainer's first start event).</summary>
    public static EventRow? First(CoordinatorStore store, string jobId, string type)
    {
        using var c = store.OpenConnection();
        return Sql.Query(c, "SELECT ingest_id, job_id, type, json, at FROM events WHERE job_id = $j AND type = $t ORDER BY ingest_id LIMIT 1",
            Read, ("$j", jobId), ("$t", type)) is [var first, ..] ? first : null;
    }

    /// <summary>Every row of one type after <paramref name="afterId"/>, any job.</summary>
    public static List<EventRow> Since(CoordinatorStore store, long afterId, string type)
    {
        using var c = store.OpenConnection();
        return Sql.Query(c, "SELECT ingest_id, job_id, type, json, at FROM events WHERE ingest_id > $a AND type = $t ORDER BY ingest_id",
            Read, ("$a", afterId), ("$t", type));
    }

    /// <summary>The highest feed position of the events table (with <paramref name="andLogs"/>, of the logs table too).</summary>
    public static long LastId(CoordinatorStore store, bool andLogs = false)
    {
        using var c = store.OpenConnection();
        var events = Convert.ToInt64(Sql.Scalar(c, "SELECT COALESCE(MAX(ingest_id), 0) FROM events") ?? 0L);
        return andLogs ? Math.Max(events, Convert.ToInt64(Sql.Scalar(c, "SELECT COALESCE(MAX(ingest_id), 0) FROM logs") ?? 0L)) : events;
    }

    public static List<Jobs.JobLogRow> Logs(CoordinatorStore store, string jobId, long afterId, string? level, string? q, int limit)
    {
        using var c = store.OpenConnection();
        return Sql.Query(c, """
            SELECT ingest_id, at, level, source, text FROM logs
            WHERE job_id = $j AND ingest_id > $a AND ($lv IS NULL OR level = $lv) AND ($q IS NULL OR text LIKE '%' || $q || '%')
            ORDER BY ingest_id LIMIT $l
            """, r => new Jobs.JobLogRow(r.GetInt64(0), r.GetString(1), r.GetString(2), r.GetString(3), r.GetString(4)),
            ("$j", jobId), ("$a", afterId), ("$lv", level), ("$q", q), ("$l", limit));
    }

    private static EventRow Read(SqliteDataReader r) => new(r.GetInt64(0), r.GetString(1), r.GetString(2), r.GetString(3), r.GetString(4));
}
