using System.Text.Json;
using System.Text.Json.Nodes;
using FineTuneLab.Coordinator.Store;
using FineTuneLab.Shared.Protos.Agent.V1;
using Microsoft.Data.Sqlite;

namespace FineTuneLab.Coordinator.Jobs;

/// <summary>What a user asked for when submitting a job (after validation).</summary>
public sealed record JobSubmission(string Name, string Project, int Priority, string SpecJson, string ResourcesJson,
    double? BudgetUsd, double? BudgetHours, long MinMemoryBytes, double? MaxPricePerHour);

/// <summary>A checkpoint a job uploaded.</summary>
public sealed record CheckpointRow(long Step, string Sha256, long Bytes, string CreatedAt);

/// <summary>The jobs table and the transitions of <see cref="JobStates"/>; every change is one transaction.</summary>
public sealed class JobStore(CoordinatorStore store)
{
    /// <summary>Re-queues after a lost agent before the job fails (<see cref="CoordinatorOptions.RestartCap"/>).</summary>
    public int MaxRestarts { get; init; } = 3;

    public string Create(JobSubmission s)
    {
        var id = "job_" + Guid.NewGuid().ToString("N")[..16];
        using var c = store.OpenConnection();
        var now = Sql.Now();
        Sql.Execute(c, """
            INSERT INTO jobs (id, name, project, priority, spec_json, resources_json, state, budget_usd, budget_hours,
                              min_vram_bytes, max_price_per_hour, created_at, updated_at)
            VALUES ($id, $n, $p, $pr, $spec, $res, 'queued', $bu, $bh, $mem, $max, $now, $now)
            """, ("$id", id), ("$n", s.Name), ("$p", s.Project), ("$pr", s.Priority), ("$spec", s.SpecJson), ("$res", s.ResourcesJson),
            ("$bu", s.BudgetUsd), ("$bh", s.BudgetHours), ("$mem", s.MinMemoryBytes), ("$max", s.MaxPricePerHour), ("$now", now));
        return id;
    }

    public JobRow? Get(string id)
    {
        using var c = store.OpenConnection();
        return Get(c, id);
    }

    internal static JobRow? Get(SqliteConnection c, string id) =>
        Sql.Query(c, $"SELECT {JobRow.Columns} FROM jobs WHERE id = $id", JobRow.Read, ("$id", id)).FirstOrDefault();

    public (List<JobRow> Jobs, long Total) List(string? state, string? q, string? project, int limit, int offset)
    {
        using var c = store.OpenConnection();
        const string where = "WHERE ($s IS NULL OR state = $s) AND ($q IS NULL OR name LIKE '%' || $q || '%') AND ($p IS NULL OR project = $p)";
        var args = new (string, object?)[] { ("$s", state), ("$q", q), ("$p", project), ("$l", limit), ("$o", offset) };
        var jobs = Sql.Query(c, $"SELECT {JobRow.Columns} FROM jobs {where} ORDER BY created_at DESC LIMIT $l OFFSET $o", JobRow.Read, args);
        var total = (long)Sql.Scalar(c, $"SELECT COUNT(*) FROM jobs {where}", args)!;
        return (jobs, total);
    }

    public List<JobRow> InState(params string[] states)
    {
        using var c = store.OpenConnection();
        var list = string.Join(",", states.Select((_, i) => "$s" + i));
        return Sql.Query(c, $"SELECT {JobRow.Columns} FROM jobs WHERE state IN ({list}) ORDER BY created_at", JobRow.Read,
            states.Select((s, i) => ("$s" + i, (object?)s)).ToArray());
    }

    public void SetWaitingReason(string id, string? reason)
    {
        using var c = store.OpenConnection();
        Sql.Execute(c, "UPDATE jobs SET reason = $r WHERE id = $id AND state = 'queued' AND reason IS NOT $r", ("$r", reason), ("$id", id));
    }

    /// <summary>Moves a queued job onto an agent at the agent's price (frozen for this assignment); false if it was no longer queued.</summary>
    public bool Assign(string id, string agentId, int? gpuIndex, double pricePerHour)
    {
        using var c = store.OpenConnection();
        using var tx = c.BeginTransaction();
        var n = Sql.Execute(c, """
            UPDATE jobs SET state = 'assigned', agent_id = $a, gpu_index = $g, price_per_hour = $price, uptime_s = 0, reason = NULL,
                            updated_at = $now, started_at = COALESCE(started_at, $now)
            WHERE id = $id AND state = 'queued'
            """, ("$a", agentId), ("$g", gpuIndex), ("$price", pricePerHour), ("$now", Sql.Now()), ("$id", id));
        if (n == 1) Sql.Execute(c, "UPDATE agents SET current_job_id = $id WHERE id = $a", ("$id", id), ("$a", agentId));
        tx.Commit();
        return n == 1;
    }

    /// <summary>Applies an agent's state report inside the ingest transaction. Reports from an agent that no longer holds the job are ignored.</summary>
    internal static void ApplyAgentState(SqliteConnection c, string agentId, JobStateChange change)
    {
        var job = Get(c, change.JobId);
        if (job is null || job.AgentId != agentId) return;
        var to = JobStates.FromProto(change.State);
        if (to == job.State || !JobStates.AgentMayMove(job.State, to)) return;
        var now = Sql.Now();
        var uptime = Math.Max(job.UptimeSeconds, change.JobUptimeS);
        if (!JobStates.IsTerminal(to))
        {
            Sql.Execute(c, "UPDATE jobs SET state = $s, uptime_s = $u, updated_at = $now WHERE id = $id",
                ("$s", to), ("$u", uptime), ("$now", now), ("$id", job.Id));
            return;
        }
        string? error = null;
        if (to == JobStates.Failed)
        {
            var classifier = new FineTuneLab.Shared.Jobs.FailureClassifier();
            var cls = classifier.Classify(change.ExitCode, change.Signal, change.ErrorMessage, change.StackTrace);
            error = JsonSerializer.Serialize(new JsonObject
            {
                ["message"] = string.IsNullOrEmpty(change.ErrorMessage) ? $"trainer exited with code {change.ExitCode}" + (change.Signal != 0 ? $" (signal {change.Signal})" : "") : change.ErrorMessage,
                ["stack_trace"] = change.StackTrace,
                ["class"] = cls.Class,
                ["advice"] = cls.Advice,
                ["exit_code"] = change.ExitCode,
                ["signal"] = change.Signal,
            });
        }
        var stopReason = to switch
        {
            JobStates.Succeeded => "completed",
            JobStates.Failed => "failed",
            JobStates.Cancelled => "cancelled",
            _ => string.IsNullOrEmpty(change.Reason) || change.Reason == "stopped" ? "user" : change.Reason,
        };
        var spent = job.SpentBeforeUsd + (job.PricePerHour ?? 0) * uptime / 3600.0;
        Sql.Execute(c, """
            UPDATE jobs SET state = $s, stop_reason = $r, error_json = COALESCE($e, error_json), finished_at = $now, updated_at = $now,
                            spent_before_usd = $spent, hours_before = hours_before + $h, uptime_s = 0, agent_id = NULL
            WHERE id = $id
            """, ("$s", to), ("$r", stopReason), ("$e", error), ("$now", now), ("$spent", spent), ("$h", uptime / 3600.0), ("$id", job.Id));
        Sql.Execute(c, "UPDATE agents SET current_job_id = NULL WHERE id = $a AND current_job_id = $id", ("$a", agentId), ("$id", job.Id));
    }

    public void UpdateUptime(string agentId, string jobId, double uptimeSeconds)
    {
        using var c = store.OpenConnection();
        Sql.Execute(c, "UPDATE jobs SET uptime_s = MAX(uptime_s, $u) WHERE id = $id AND agent_id = $a",
            ("$u", uptimeSeconds), ("$id", jobId), ("$a", agentId));
    }

    /// <summary>Puts every job a lost agent held back in the queue; it resumes from its last uploaded checkpoint. Returns their ids.</summary>
    public List<string> RequeueJobsOf(string agentId)
    {
        using var c = store.OpenConnection();
        using var tx = c.BeginTransaction();
        var jobs = Sql.Query(c, $"SELECT {JobRow.Columns} FROM jobs WHERE agent_id = $a AND state IN ('assigned','running','paused','stopping')",
            JobRow.Read, ("$a", agentId));
        foreach (var job in jobs)
        {
            var spent = job.SpentBeforeUsd + (job.PricePerHour ?? 0) * job.UptimeSeconds / 3600.0;
            var giveUp = job.Restarts >= MaxRestarts;
            Sql.Execute(c, """
                UPDATE jobs SET state = $s, agent_id = NULL, gpu_index = NULL, restarts = restarts + 1, uptime_s = 0,
                                spent_before_usd = $spent, hours_before = hours_before + $h, updated_at = $now,
                                resume_checkpoint = (SELECT sha256 FROM checkpoints WHERE job_id = $id ORDER BY step DESC LIMIT 1),
                                reason = $why, stop_reason = $stop, finished_at = $fin, error_json = $err
                WHERE id = $id
                """, ("$s", giveUp ? JobStates.Failed : JobStates.Queued), ("$spent", spent), ("$h", job.UptimeSeconds / 3600.0),
                ("$now", Sql.Now()), ("$id", job.Id), ("$why", giveUp ? null : $"re-queued: agent {agentId} was lost"),
                ("$stop", giveUp ? "failed" : null), ("$fin", giveUp ? Sql.Now() : null),
                ("$err", giveUp ? JsonSerializer.Serialize(new JsonObject { ["message"] = $"agent lost {MaxRestarts + 1} times", ["class"] = "node_error" }) : job.ErrorJson));
        }
        Sql.Execute(c, "UPDATE agents SET current_job_id = NULL WHERE id = $a", ("$a", agentId));
        tx.Commit();
        return jobs.Select(j => j.Id).ToList();
    }

    /// <summary>
    /// Re-queues a failed job whose failure class is retryable (it resumes from its last uploaded checkpoint), counting
    /// a restart; false when it is no longer failed or has used its restarts.
    /// </summary>
    public bool RequeueRetryable(string id, string why)
    {
        using var c = store.OpenConnection();
        return Sql.Execute(c, """
            UPDATE jobs SET state = 'queued', restarts = restarts + 1, reason = $why, stop_reason = NULL, finished_at = NULL,
                            error_json = NULL, updated_at = $now,
                            resume_checkpoint = (SELECT sha256 FROM checkpoints WHERE job_id = $id ORDER BY step DESC LIMIT 1)
            WHERE id = $id AND state = 'failed' AND restarts < $max
            """, ("$why", why), ("$now", Sql.Now()), ("$id", id), ("$max", MaxRestarts)) == 1;
    }

    /// <summary>Replaces a failed job's error (its class and advice after the user's failure rules).</summary>
    public void SetError(string id, string errorJson)
    {
        using var c = store.OpenConnection();
        Sql.Execute(c, "UPDATE jobs SET error_json = $err WHERE id = $id AND state = 'failed'", ("$err", errorJson), ("$id", id));
    }

    /// <summary>A user's move: sets the new state directly when no agent needs to act (queued → cancelled, stopped → queued).</summary>
    public bool TryUserMove(string id, string from, string to, string? stopReason, double? budgetUsd = null, double? budgetHours = null)
    {
        using var c = store.OpenConnection();
        var finished = JobStates.IsTerminal(to) ? Sql.Now() : null;
        return Sql.Execute(c, """
            UPDATE jobs SET state = $to, stop_reason = $r, updated_at = $now, finished_at = $fin,
                            budget_usd = COALESCE($bu, budget_usd), budget_hours = COALESCE($bh, budget_hours),
                            resume_checkpoint = CASE WHEN $to = 'queued'
                                THEN (SELECT sha256 FROM checkpoints WHERE job_id = $id ORDER BY step DESC LIMIT 1) ELSE resume_checkpoint END
            WHERE id = $id AND state = $from
            """, ("$to", to), ("$r", stopReason), ("$now", Sql.Now()), ("$fin", finished), ("$bu", budgetUsd), ("$bh", budgetHours),
            ("$id", id), ("$from", from)) == 1;
    }

    public void RecordCheckpoint(string jobId, long step, string sha, long bytes)
    {
        using var c = store.OpenConnection();
        Sql.Execute(c, "INSERT OR REPLACE INTO checkpoints (job_id, step, sha256, bytes, created_at) VALUES ($j, $s, $h, $b, $now)",
            ("$j", jobId), ("$s", step), ("$h", sha), ("$b", bytes), ("$now", Sql.Now()));
    }

    public void RecordAdapter(string jobId, string sha)
    {
        using var c = store.OpenConnection();
        Sql.Execute(c, "UPDATE jobs SET adapter_sha256 = $h WHERE id = $j", ("$h", sha), ("$j", jobId));
    }

    public List<CheckpointRow> Checkpoints(string jobId)
    {
        using var c = store.OpenConnection();
        return Sql.Query(c, "SELECT step, sha256, bytes, created_at FROM checkpoints WHERE job_id = $j ORDER BY step",
            r => new CheckpointRow(r.GetInt64(0), r.GetString(1), r.GetInt64(2), r.GetString(3)), ("$j", jobId));
    }
}
