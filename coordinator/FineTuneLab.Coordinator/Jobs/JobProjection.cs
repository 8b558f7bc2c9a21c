using FineTuneLab.Shared.Jobs;
using static FineTuneLab.Coordinator.Jobs.JobStates;

namespace FineTuneLab.Coordinator.Jobs;

/// <summary>
/// The one place that decides a job's state: <c>(state, fact) → (state', derived events)</c>, pure like the
/// scheduler's <see cref="Scheduling.Scheduler.Plan"/>. It reads nothing and writes nothing; <see cref="JobStore"/>
/// loads the row, applies the fact here and writes the outcome and its events in one transaction. The other
/// decisions about a job live in the same class: its cost and projection (JobProjection.Cost.cs), its budget
/// alerts and stop (JobProjection.Budget.cs) and its metrics rows (JobProjection.Metrics.cs).
/// </summary>
public static partial class JobProjection
{
    /// <summary>A new job, queued.</summary>
    public static (JobRow Job, StateChanged Event) Submit(string id, JobSubmission s, string now) =>
        (new JobRow(id, s.Name, s.Project, s.Priority, s.SpecJson, s.ResourcesJson, Queued, null, null, null, s.BudgetUsd, s.BudgetHours,
            0, 0, 0, null, null, null, null, now, null, null, 0, s.MinMemoryBytes, s.MaxPricePerHour, null, now),
         new StateChanged(null, Queued, "submitted", "user"));

    /// <summary>Applies one fact to the job; <see cref="Projected.Moved"/> is false when the fact changed nothing but (maybe) its billing.</summary>
    public static Projected Apply(JobRow job, JobFact fact, JobRules rules, string now) => fact switch
    {
        Placed p => Place(job, p, now),
        AgentReported r => Report(job, r, rules, now),
        UptimeReported u => Heartbeat(job, u),
        TrainerReported t => new Projected(job with { Pace = ObservePace(job.Pace, t.Event) }, []),
        AgentLost l => Lose(job, l, rules, now),
        Moved m => Move(job, m, now),
        _ => throw new ArgumentOutOfRangeException(nameof(fact), fact.GetType().Name, "not a job fact"),
    };

    private static Projected Heartbeat(JobRow job, UptimeReported u)
    {
        var (billed, bill) = Bill(job, u.AgentId, u.UptimeS, u.At);
        return new Projected(billed, [], bill);
    }

    private static Projected Place(JobRow job, Placed p, string now)
    {
        if (job.State != Queued) return new Projected(job, []);
        var next = job with
        {
            State = Assigned, AgentId = p.AgentId, GpuIndex = p.GpuIndex, PricePerHour = p.PricePerHour, UptimeSeconds = 0,
            WaitingReason = null, UpdatedAt = now, StartedAt = job.StartedAt ?? now,
        };
        return new Projected(next,
        [
            new StateChanged(Queued, Assigned, null, "scheduler"),
            new JobAssigned(p.AgentId, p.AgentName, p.GpuIndex, p.GpuName, p.GpuMemoryBytes, p.PricePerHour, job.Restarts,
                job.ResumeCheckpoint, job.SpentBeforeUsd),
        ], Agent: AgentLink.Hold) { Moved = true };
    }

    /// <summary>
    /// An agent's report. Its uptime is billed first; reports from an agent that no longer holds the job move
    /// nothing. A failure is classified here, once, with the coordinator's rules (the user's before the built-in
    /// table), and a retryable one re-queues the job right away while restarts are left.
    /// </summary>
    private static Projected Report(JobRow job, AgentReported r, JobRules rules, string now)
    {
        var (billed, bill) = Bill(job, r.AgentId, r.UptimeS, r.At);
        var to = r.To;
        var said = new StateChanged(job.State, to, NullIfEmpty(r.Reason), "agent")
        {
            AgentId = r.AgentId, JobUptimeS = r.UptimeS,
            ExitCode = r.ExitCode != 0 || r.Signal != 0 ? r.ExitCode : null, Signal = r.ExitCode != 0 || r.Signal != 0 ? r.Signal : null,
            ErrorMessage = NullIfEmpty(r.ErrorMessage),
        };
        // A job already ended here (cancelled while its agent was cut off) ends there too: the agent is free again.
        var link = job.AgentId == r.AgentId && to is not null && IsTerminal(job.State) && IsTerminal(to) ? AgentLink.Release : AgentLink.Keep;
        var ignored = job.AgentId != r.AgentId ? "the agent does not hold the job"
            : to is null ? "no state in the report"
            : to == job.State ? $"the job is already {to}"
            : !AgentMayMove(job.State, to) ? $"an agent may not move a job from {job.State} to {to}"
            : null;
        if (ignored is not null) return new Projected(billed, [], bill, link, said with { Ignored = ignored });
        if (!IsTerminal(to!))
            return new Projected(billed with { State = to!, UpdatedAt = now }, [], bill, link, said) { Moved = true };

        var stopReason = to switch
        {
            Succeeded => "completed",
            Failed => "failed",
            Cancelled => "cancelled",
            _ => string.IsNullOrEmpty(r.Reason) || r.Reason == "stopped" ? "user" : r.Reason,
        };
        var error = to == Failed ? Classify(r, rules.Failures) : null;
        var ended = billed with
        {
            State = to!, StopReason = stopReason, ErrorJson = error?.ToJson() ?? billed.ErrorJson, FinishedAt = now, UpdatedAt = now,
            SpentBeforeUsd = SpendNow(billed), HoursBefore = billed.HoursBefore + billed.UptimeSeconds / 3600.0, UptimeSeconds = 0, AgentId = null,
        };
        said = said with { Reason = stopReason };
        if (error is not { Retryable: true } || ended.Restarts >= rules.MaxRestarts)
            return new Projected(ended, [], bill, AgentLink.Release, said) { Moved = true };

        // The failure stays in the job's feed; the job itself carries no error while it runs again.
        var why = $"re-queued: the trainer failed with a retryable {error.Class} (restart {ended.Restarts + 1} of {rules.MaxRestarts})";
        var retried = ended with
        {
            State = Queued, Restarts = ended.Restarts + 1, WaitingReason = why, StopReason = null, FinishedAt = null, ErrorJson = null,
            ResumeCheckpoint = r.LastCheckpoint?.Sha256,
        };
        return new Projected(retried,
        [
            new StateChanged(Failed, Queued, why, "coordinator"),
            new Requeued("retryable_failure", retried.Restarts, rules.MaxRestarts, Ref(r.LastCheckpoint), retried.SpentBeforeUsd)
                { Message = why, Error = error },
        ], bill, AgentLink.Release, said) { Moved = true };
    }

    /// <summary>The failure's class, advice and whether a retry can fix it, from the agent's raw facts.</summary>
    public static JobError Classify(AgentReported r, FailureClassifier failures)
    {
        var cls = failures.Classify(r.ExitCode, r.Signal, r.ErrorMessage, r.StackTrace);
        var message = string.IsNullOrEmpty(r.ErrorMessage)
            ? $"trainer exited with code {r.ExitCode}" + (r.Signal != 0 ? $" (signal {r.Signal})" : "")
            : r.ErrorMessage;
        return new JobError(message)
        {
            StackTrace = r.StackTrace, Class = cls.Class, Advice = cls.Advice, ExitCode = r.ExitCode, Signal = r.Signal,
            Retryable = cls.Action == FailureAction.Retry,
        };
    }

    /// <summary>Back to the queue to resume from the last uploaded checkpoint, or failed once the restarts are used.</summary>
    private static Projected Lose(JobRow job, AgentLost l, JobRules rules, string now)
    {
        if (job.AgentId != l.AgentId || !OnAgent(job.State)) return new Projected(job, []);
        var giveUp = job.Restarts >= rules.MaxRestarts;
        var next = job with
        {
            State = giveUp ? Failed : Queued, AgentId = null, GpuIndex = null, Restarts = job.Restarts + 1, UptimeSeconds = 0,
            SpentBeforeUsd = SpendNow(job), HoursBefore = job.HoursBefore + job.UptimeSeconds / 3600.0, UpdatedAt = now,
            ResumeCheckpoint = l.LastCheckpoint?.Sha256, WaitingReason = giveUp ? null : $"re-queued: {l.Why}",
            StopReason = giveUp ? "failed" : null, FinishedAt = giveUp ? now : null,
            ErrorJson = giveUp ? new JobError($"agent lost {rules.MaxRestarts + 1} times") { Class = "node_error" }.ToJson() : job.ErrorJson,
        };
        var moved = new StateChanged(job.State, next.State, giveUp ? $"{l.Why}; restarts exhausted ({rules.MaxRestarts})" : l.Why, "coordinator");
        JobEventBody[] events = giveUp
            ? [moved]
            : [moved, new Requeued(l.Why, next.Restarts, rules.MaxRestarts, Ref(l.LastCheckpoint), next.SpentBeforeUsd) { AgentId = l.AgentId }];
        return new Projected(next, events, Agent: AgentLink.Release) { Moved = true };
    }

    /// <summary>A user's move (or the coordinator's order) that needs no agent to act: it applies only from <see cref="Moved.From"/>.</summary>
    private static Projected Move(JobRow job, Moved m, string now)
    {
        if (job.State != m.From) return new Projected(job, []);
        var next = job with
        {
            State = m.To, StopReason = m.StopReason, UpdatedAt = now, FinishedAt = IsTerminal(m.To) ? now : null,
            BudgetUsd = m.BudgetUsd ?? job.BudgetUsd, BudgetHours = m.BudgetHours ?? job.BudgetHours,
            ResumeCheckpoint = m.To == Queued ? m.LastCheckpoint?.Sha256 : job.ResumeCheckpoint,
        };
        var byCoordinator = m.StopReason is { } r && (r == StopReasons.Budget || r.Contains(':', StringComparison.Ordinal));
        var moved = new StateChanged(m.From, m.To, m.StopReason ?? (m.To == Queued ? "resumed" : null), byCoordinator ? "coordinator" : "user")
        {
            Budget = m.BudgetUsd is not null || m.BudgetHours is not null ? new BudgetLimits(next.BudgetUsd, next.BudgetHours) : null,
        };
        return new Projected(next, [moved]) { Moved = true };
    }

    /// <summary>
    /// Bills the growth of the assignment's uptime (seconds the agent has held the job, as it observed) at the price
    /// frozen on the job. The job's <c>uptime_s</c> is the high-water mark, and only growth past it is billed, so a
    /// replayed or duplicated report adds nothing; reports from an agent that does not hold the job bill nothing.
    /// </summary>
    private static (JobRow Job, Billing? Bill) Bill(JobRow job, string agentId, double uptimeSeconds, DateTime at)
    {
        if (!double.IsFinite(uptimeSeconds) || uptimeSeconds <= job.UptimeSeconds || job.AgentId != agentId || !OnAgent(job.State))
            return (job, null);
        var billed = job with { UptimeSeconds = uptimeSeconds };
        var price = job.PricePerHour ?? 0;
        return (billed, new Billing(agentId, job.Project, uptimeSeconds - job.UptimeSeconds, price, SpendNow(billed), at));
    }

    private static double SpendNow(JobRow job) => job.SpentBeforeUsd + (job.PricePerHour ?? 0) * job.UptimeSeconds / 3600.0;

    private static CheckpointRef? Ref(CheckpointRow? c) => c is null ? null : new CheckpointRef(c.Step, c.Sha256);

    private static string? NullIfEmpty(string? s) => string.IsNullOrEmpty(s) ? null : s;
}
