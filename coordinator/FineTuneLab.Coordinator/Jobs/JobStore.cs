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

/// <summary>
/// The jobs table and the transitions of <see cref="JobStates"/>; every change is one transaction, and writes its
/// job events (<see cref="JobEvents"/>: state, assigned, requeued) in that same transaction, so each is written once.
/// <paramref name="ids"/> hands out the events' feed positions.
/// </summary>
public sealed class JobStore(CoordinatorStore store, IIngestOrder ids)
{
    /// <summary>Re-queues after a lost agent or a retryable failure before the job fails (<see cref="CoordinatorOptions.RestartCap"/>).</summary>
    public int MaxRestarts { get; init; } = 3;

    public string Create(JobSubmission s) => Transition((c, next) =>
    {
        var id = "job_" + Guid.NewGuid().ToString("N")[..16];
        var now = Sql.Now();
        Sql.Execute(c, """
            INSERT INTO jobs (id, name, project, priority, spec_json, resources_json, state, budget_usd, budget_hours,
                              min_vram_bytes, max_price_per_hour, created_at, updated_at)
            VALUES ($id, $n, $p, $pr, $spec, $res, 'queued', $bu, $bh, $mem, $max, $now, $now)
            """, ("$id", id), ("$n", s.Name), ("$p", s.Project), ("$pr", s.Priority), ("$spec", s.SpecJson), ("$res", s.ResourcesJson),
            ("$bu", s.BudgetUsd), ("$bh", s.BudgetHours), ("$mem", s.MinMemoryBytes), ("$max", s.MaxPricePerHour), ("$now", now));
        JobEvents.Insert(c, next(), id, JobEvents.State, StateEvent(null, JobStates.Queued, "submitted", "user"));
        return id;
    });

    /// <summary>
    /// Appends an event the coordinator raises (e.g. <c>budget_alert</c>, <c>anomaly</c>) to the job's feed. With a
    /// <paramref name="key"/> it is written at most once per job ("budget_alert:0.8"); answers whether it was written.
    /// </summary>
    public bool AppendEvent(string jobId, string type, JsonObject data, string? key = null) =>
        JobEvents.Append(store, ids, jobId, type, data, key);

    /// <summary>One transaction for a change and the events it writes.</summary>
    private T Transition<T>(Func<SqliteConnection, Func<long>, T> change)
    {
        using var c = store.OpenConnection();
        using var tx = c.BeginTransaction();
        var result = change(c, ids.Next);
        tx.Commit();
        return result;
    }

    private static JsonObject StateEvent(string? from, string to, string? reason, string by) =>
        new() { ["from"] = from, ["to"] = to, ["reason"] = reason, ["by"] = by };

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
    public bool Assign(string id, string agentId, int? gpuIndex, double pricePerHour) => Transition((c, next) =>
    {
        var n = Sql.Execute(c, """
            UPDATE jobs SET state = 'assigned', agent_id = $a, gpu_index = $g, price_per_hour = $price, uptime_s = 0, reason = NULL,
                            updated_at = $now, started_at = COALESCE(started_at, $now)
            WHERE id = $id AND state = 'queued'
            """, ("$a", agentId), ("$g", gpuIndex), ("$price", pricePerHour), ("$now", Sql.Now()), ("$id", id));
        if (n != 1) return false;
        Sql.Execute(c, "UPDATE agents SET current_job_id = $id WHERE id = $a", ("$id", id), ("$a", agentId));
        var job = Get(c, id)!;
        var agent = Sql.Query(c, "SELECT name, inventory_json FROM agents WHERE id = $a", r => (Name: r.GetString(0), Inventory: r.GetString(1)), ("$a", agentId)).FirstOrDefault();
        var gpu = gpuIndex is { } g && agent.Inventory is not null ? NodeInventory.Parser.ParseJson(agent.Inventory).Gpus.FirstOrDefault(x => x.Index == g) : null;
        JobEvents.Insert(c, next(), id, JobEvents.State, StateEvent(JobStates.Queued, JobStates.Assigned, null, "scheduler"));
        JobEvents.Insert(c, next(), id, JobEvents.Assigned, new JsonObject
        {
            ["agent_id"] = agentId, ["agent_name"] = agent.Name, ["gpu_index"] = gpuIndex, ["gpu_name"] = gpu?.Name,
            ["gpu_memory_bytes"] = gpu is null ? null : (long)gpu.MemoryTotalBytes, ["price_per_hour"] = pricePerHour,
            ["restarts"] = job.Restarts, ["resume_checkpoint"] = job.ResumeCheckpoint, ["spent_usd_before"] = job.SpentBeforeUsd,
        });
        return true;
    });

    /// <summary>Applies an agent's state report inside the ingest transaction. Reports from an agent that no longer holds the job are ignored.</summary>
    /// <remarks>
    /// The report's uptime is billed first (<see cref="CostLedger.Accrue"/>). The report's own stored event (agent,
    /// seq) is rewritten as a <c>state</c> event {from, to, reason, by: agent, ...} when it moved the job, or as a
    /// <c>state_report</c> with what it was ignored for; so each transition appears once in the feed.
    /// </remarks>
    internal static void ApplyAgentState(SqliteConnection c, string agentId, JobStateChange change)
    {
        var at = change.At is { } t ? Min(t.ToDateTime(), DateTime.UtcNow) : DateTime.UtcNow;
        CostLedger.Accrue(c, agentId, change.JobId, change.JobUptimeS, at);
        var job = Get(c, change.JobId);
        var to = change.State == JobState.Unspecified ? null : JobStates.FromProto(change.State);
        // A job already ended here (cancelled while its agent was cut off) ends there too: the agent is free again.
        if (job is not null && job.AgentId == agentId && to is not null && JobStates.IsTerminal(job.State) && JobStates.IsTerminal(to))
            Sql.Execute(c, "UPDATE agents SET current_job_id = NULL WHERE id = $a AND current_job_id = $id", ("$a", agentId), ("$id", job.Id));
        var data = new JsonObject { ["from"] = job?.State, ["to"] = to, ["reason"] = NullIfEmpty(change.Reason), ["by"] = "agent", ["agent_id"] = agentId, ["job_uptime_s"] = change.JobUptimeS };
        if (change.ExitCode != 0 || change.Signal != 0) { data["exit_code"] = change.ExitCode; data["signal"] = change.Signal; }
        if (change.ErrorMessage.Length > 0) data["error_message"] = change.ErrorMessage;
        var ignored = job is null ? "no such job"
            : job.AgentId != agentId ? "the agent does not hold the job"
            : to is null ? "no state in the report"
            : to == job.State ? $"the job is already {to}"
            : !JobStates.AgentMayMove(job.State, to) ? $"an agent may not move a job from {job.State} to {to}"
            : null;
        if (ignored is not null)
        {
            data["ignored"] = ignored;
            RewriteReport(c, agentId, change.Seq, JobEvents.StateReport, data);
            return;
        }
        var now = Sql.Now();
        var uptime = job!.UptimeSeconds;
        if (!JobStates.IsTerminal(to!))
        {
            Sql.Execute(c, "UPDATE jobs SET state = $s, updated_at = $now WHERE id = $id", ("$s", to), ("$now", now), ("$id", job.Id));
            RewriteReport(c, agentId, change.Seq, JobEvents.State, data);
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
        data["reason"] = stopReason;
        RewriteReport(c, agentId, change.Seq, JobEvents.State, data);
    }

    private static void RewriteReport(SqliteConnection c, string agentId, ulong seq, string type, JsonObject data) =>
        Sql.Execute(c, "UPDATE events SET type = $t, json = $js WHERE agent_id = $a AND seq = $s",
            ("$t", type), ("$js", data.ToJsonString()), ("$a", agentId), ("$s", (long)seq));

    private static DateTime Min(DateTime a, DateTime b) => a < b ? a : b;

    private static string? NullIfEmpty(string s) => s.Length == 0 ? null : s;

    /// <summary>Bills an agent's uptime report for the job it holds (<see cref="CostLedger.Accrue"/>).</summary>
    public void UpdateUptime(string agentId, string jobId, double uptimeSeconds)
    {
        using var c = store.OpenConnection();
        using var tx = c.BeginTransaction();
        CostLedger.Accrue(c, agentId, jobId, uptimeSeconds, DateTime.UtcNow);
        tx.Commit();
    }

    /// <summary>Puts every job a lost agent held back in the queue; it resumes from its last uploaded checkpoint. Returns their ids.</summary>
    public List<string> RequeueJobsOf(string agentId, string? reason = null) => Transition((c, next) =>
    {
        var why = reason ?? $"agent {agentId} was lost";
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
                ("$now", Sql.Now()), ("$id", job.Id), ("$why", giveUp ? null : $"re-queued: {why}"),
                ("$stop", giveUp ? "failed" : null), ("$fin", giveUp ? Sql.Now() : null),
                ("$err", giveUp ? JsonSerializer.Serialize(new JsonObject { ["message"] = $"agent lost {MaxRestarts + 1} times", ["class"] = "node_error" }) : job.ErrorJson));
            var after = Get(c, job.Id)!;
            JobEvents.Insert(c, next(), job.Id, JobEvents.State,
                StateEvent(job.State, after.State, giveUp ? $"{why}; restarts exhausted ({MaxRestarts})" : why, "coordinator"));
            if (giveUp) continue;
            var resume = after.ResumeCheckpoint is { } sha ? Checkpoints(c, job.Id).LastOrDefault(k => k.Sha256 == sha) : null;
            JobEvents.Insert(c, next(), job.Id, JobEvents.Requeued, new JsonObject
            {
                ["reason"] = why, ["agent_id"] = agentId, ["restarts"] = after.Restarts, ["max_restarts"] = MaxRestarts,
                ["resume_checkpoint"] = resume is null ? null : new JsonObject { ["step"] = resume.Step, ["sha256"] = resume.Sha256 },
                ["spent_usd"] = after.SpentBeforeUsd,
            });
        }
        Sql.Execute(c, "UPDATE agents SET current_job_id = NULL WHERE id = $a", ("$a", agentId));
        return jobs.Select(j => j.Id).ToList();
    });

    /// <summary>
    /// Re-queues a failed job whose failure class is retryable (it resumes from its last uploaded checkpoint), counting
    /// a restart; false when it is no longer failed or has used its restarts.
    /// </summary>
    public bool RequeueRetryable(string id, string why, JsonObject error) => Transition((c, next) =>
    {
        var moved = Sql.Execute(c, """
            UPDATE jobs SET state = 'queued', restarts = restarts + 1, reason = $why, stop_reason = NULL, finished_at = NULL,
                            error_json = NULL, updated_at = $now,
                            resume_checkpoint = (SELECT sha256 FROM checkpoints WHERE job_id = $id ORDER BY step DESC LIMIT 1)
            WHERE id = $id AND state = 'failed' AND restarts < $max
            """, ("$why", why), ("$now", Sql.Now()), ("$id", id), ("$max", MaxRestarts)) == 1;
        if (!moved) return false;
        var after = Get(c, id)!;
        JobEvents.Insert(c, next(), id, JobEvents.State, StateEvent(JobStates.Failed, JobStates.Queued, why, "coordinator"));
        var resume = after.ResumeCheckpoint is { } sha ? Checkpoints(c, id).LastOrDefault(k => k.Sha256 == sha) : null;
        // The failure stays in the job's feed; the job itself carries no error while it runs again.
        JobEvents.Insert(c, next(), id, JobEvents.Requeued, new JsonObject
        {
            ["reason"] = "retryable_failure", ["message"] = why, ["error"] = error.DeepClone(), ["restarts"] = after.Restarts, ["max_restarts"] = MaxRestarts,
            ["resume_checkpoint"] = resume is null ? null : new JsonObject { ["step"] = resume.Step, ["sha256"] = resume.Sha256 },
            ["spent_usd"] = after.SpentBeforeUsd,
        });
        return true;
    });

    /// <summary>Replaces a failed job's error (its class and advice after the user's failure rules).</summary>
    public void SetError(string id, string errorJson)
    {
        using var c = store.OpenConnection();
        Sql.Execute(c, "UPDATE jobs SET error_json = $err WHERE id = $id AND state = 'failed'", ("$err", errorJson), ("$id", id));
    }

    /// <summary>A user's move: sets the new state directly when no agent needs to act (queued → cancelled, stopped → queued).</summary>
    /// <remarks>A move with reason <c>budget</c>, <c>anomaly:KIND</c> or <c>fail:KIND</c> is the coordinator's own (its budget guard, an anomaly policy), recorded as by: coordinator.</remarks>
    public bool TryUserMove(string id, string from, string to, string? stopReason, double? budgetUsd = null, double? budgetHours = null) => Transition((c, next) =>
    {
        var finished = JobStates.IsTerminal(to) ? Sql.Now() : null;
        var moved = Sql.Execute(c, """
            UPDATE jobs SET state = $to, stop_reason = $r, updated_at = $now, finished_at = $fin,
                            budget_usd = COALESCE($bu, budget_usd), budget_hours = COALESCE($bh, budget_hours),
                            resume_checkpoint = CASE WHEN $to = 'queued'
                                THEN (SELECT sha256 FROM checkpoints WHERE job_id = $id ORDER BY step DESC LIMIT 1) ELSE resume_checkpoint END
            WHERE id = $id AND state = $from
            """, ("$to", to), ("$r", stopReason), ("$now", Sql.Now()), ("$fin", finished), ("$bu", budgetUsd), ("$bh", budgetHours),
            ("$id", id), ("$from", from)) == 1;
        if (!moved) return false;
        var data = StateEvent(from, to, stopReason ?? (to == JobStates.Queued ? "resumed" : null), stopReason is not null && (stopReason == "budget" || stopReason.Contains(':', StringComparison.Ordinal)) ? "coordinator" : "user");
        if (budgetUsd is not null || budgetHours is not null)
        {
            var job = Get(c, id)!;
            data["budget"] = new JsonObject { ["max_usd"] = job.BudgetUsd, ["max_hours"] = job.BudgetHours };
        }
        JobEvents.Insert(c, next(), id, JobEvents.State, data);
        return true;
    });

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
        return Checkpoints(c, jobId);
    }

    private static List<CheckpointRow> Checkpoints(SqliteConnection c, string jobId) =>
        Sql.Query(c, "SELECT step, sha256, bytes, created_at FROM checkpoints WHERE job_id = $j ORDER BY step",
            r => new CheckpointRow(r.GetInt64(0), r.GetString(1), r.GetInt64(2), r.GetString(3)), ("$j", jobId));
}
