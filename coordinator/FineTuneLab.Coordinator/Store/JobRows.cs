using FineTuneLab.Coordinator.Jobs;
using Microsoft.Data.Sqlite;

namespace FineTuneLab.Coordinator.Store;

/// <summary>The SQL of the jobs and checkpoints tables: rows in and out, nothing decided here (<see cref="JobProjection"/> decides).</summary>
internal static class JobRows
{
    public static void Insert(SqliteConnection c, JobRow j) => Sql.Execute(c, """
        INSERT INTO jobs (id, name, project, priority, spec_json, resources_json, state, budget_usd, budget_hours,
                          min_vram_bytes, max_price_per_hour, created_at, updated_at)
        VALUES ($id, $n, $p, $pr, $spec, $res, $s, $bu, $bh, $mem, $max, $now, $now)
        """, ("$id", j.Id), ("$n", j.Name), ("$p", j.Project), ("$pr", j.Priority), ("$spec", j.SpecJson), ("$res", j.ResourcesJson),
        ("$s", j.State), ("$bu", j.BudgetUsd), ("$bh", j.BudgetHours), ("$mem", j.MinMemoryBytes), ("$max", j.MaxPricePerHour), ("$now", j.CreatedAt));

    /// <summary>Writes every column a transition may change; false when the row is no longer in <paramref name="before"/>'s state.</summary>
    public static bool Save(SqliteConnection c, JobRow before, JobRow j) => Sql.Execute(c, """
        UPDATE jobs SET state = $s, agent_id = $a, gpu_index = $g, price_per_hour = $price, budget_usd = $bu, budget_hours = $bh,
                        spent_before_usd = $spent, hours_before = $hours, uptime_s = $up, resume_checkpoint = $rc, reason = $r,
                        stop_reason = $sr, error_json = $e, started_at = $st, finished_at = $fin, restarts = $n, updated_at = $now,
                        pace_json = $pace
        WHERE id = $id AND state = $was
        """, ("$s", j.State), ("$a", j.AgentId), ("$g", j.GpuIndex), ("$price", j.PricePerHour), ("$bu", j.BudgetUsd), ("$bh", j.BudgetHours),
        ("$spent", j.SpentBeforeUsd), ("$hours", j.HoursBefore), ("$up", j.UptimeSeconds), ("$rc", j.ResumeCheckpoint), ("$r", j.WaitingReason),
        ("$sr", j.StopReason), ("$e", j.ErrorJson), ("$st", j.StartedAt), ("$fin", j.FinishedAt), ("$n", j.Restarts), ("$now", j.UpdatedAt),
        ("$pace", j.Pace.Recent.Count == 0 && j.Pace.CheckpointSeconds is null ? null : System.Text.Json.JsonSerializer.Serialize(j.Pace, JobRow.PaceJson)),
        ("$id", j.Id), ("$was", before.State)) == 1;

    public static JobRow? Get(SqliteConnection c, string id) =>
        Sql.Query(c, $"SELECT {JobRow.Columns} FROM jobs WHERE id = $id", JobRow.Read, ("$id", id)).FirstOrDefault();

    public static (List<JobRow> Jobs, long Total) List(SqliteConnection c, string? state, string? q, string? project, int limit, int offset)
    {
        const string where = "WHERE ($s IS NULL OR state = $s) AND ($q IS NULL OR name LIKE '%' || $q || '%') AND ($p IS NULL OR project = $p)";
        var args = new (string, object?)[] { ("$s", state), ("$q", q), ("$p", project), ("$l", limit), ("$o", offset) };
        var jobs = Sql.Query(c, $"SELECT {JobRow.Columns} FROM jobs {where} ORDER BY created_at DESC LIMIT $l OFFSET $o", JobRow.Read, args);
        var total = (long)Sql.Scalar(c, $"SELECT COUNT(*) FROM jobs {where}", args)!;
        return (jobs, total);
    }

    public static List<JobRow> InState(SqliteConnection c, string[] states)
    {
        var list = string.Join(",", states.Select((_, i) => "$s" + i));
        return Sql.Query(c, $"SELECT {JobRow.Columns} FROM jobs WHERE state IN ({list}) ORDER BY created_at", JobRow.Read,
            states.Select((s, i) => ("$s" + i, (object?)s)).ToArray());
    }

    /// <summary>The jobs an agent holds.</summary>
    public static List<JobRow> OnAgent(SqliteConnection c, string agentId) =>
        Sql.Query(c, $"SELECT {JobRow.Columns} FROM jobs WHERE agent_id = $a AND state IN ('assigned','running','paused','stopping')",
            JobRow.Read, ("$a", agentId));

    public static void SetWaitingReason(SqliteConnection c, string id, string? reason) =>
        Sql.Execute(c, "UPDATE jobs SET reason = $r WHERE id = $id AND state = 'queued' AND reason IS NOT $r", ("$r", reason), ("$id", id));

    public static CheckpointRow? LastCheckpoint(SqliteConnection c, string jobId) =>
        Sql.Query(c, "SELECT step, sha256, bytes, created_at FROM checkpoints WHERE job_id = $j ORDER BY step DESC LIMIT 1", ReadCheckpoint, ("$j", jobId))
            .FirstOrDefault();

    public static List<CheckpointRow> Checkpoints(SqliteConnection c, string jobId) =>
        Sql.Query(c, "SELECT step, sha256, bytes, created_at FROM checkpoints WHERE job_id = $j ORDER BY step", ReadCheckpoint, ("$j", jobId));

    private static CheckpointRow ReadCheckpoint(SqliteDataReader r) => new(r.GetInt64(0), r.GetString(1), r.GetInt64(2), r.GetString(3));

    /// <summary>The agent's name and stored inventory (JSON), for an assignment's event.</summary>
    public static (string? Name, string? Inventory) AgentOf(SqliteConnection c, string agentId) =>
        Sql.Query(c, "SELECT name, inventory_json FROM agents WHERE id = $a", r => ((string?)r.GetString(0), (string?)r.GetString(1)), ("$a", agentId)).FirstOrDefault();

    public static void HoldAgent(SqliteConnection c, string agentId, string jobId) =>
        Sql.Execute(c, "UPDATE agents SET current_job_id = $id WHERE id = $a", ("$id", jobId), ("$a", agentId));

    /// <summary>Frees the agent (of <paramref name="jobId"/> only, when given).</summary>
    public static void ReleaseAgent(SqliteConnection c, string agentId, string? jobId) =>
        Sql.Execute(c, "UPDATE agents SET current_job_id = NULL WHERE id = $a AND ($id IS NULL OR current_job_id = $id)", ("$a", agentId), ("$id", jobId));

    public static void RecordCheckpoint(SqliteConnection c, string jobId, long step, string sha, long bytes) =>
        Sql.Execute(c, "INSERT OR REPLACE INTO checkpoints (job_id, step, sha256, bytes, created_at) VALUES ($j, $s, $h, $b, $now)",
            ("$j", jobId), ("$s", step), ("$h", sha), ("$b", bytes), ("$now", Sql.Now()));

    public static void RecordAdapter(SqliteConnection c, string jobId, string sha) =>
        Sql.Execute(c, "UPDATE jobs SET adapter_sha256 = $h WHERE id = $j", ("$h", sha), ("$j", jobId));
}
