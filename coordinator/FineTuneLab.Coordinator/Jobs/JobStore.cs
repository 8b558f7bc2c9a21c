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
/// The jobs table. Every change is one transaction: load the row, let <see cref="JobProjection"/> decide, write the
/// row it answers, its billing and its events (<see cref="JobEvents.Append"/>). The events appended are handed to
/// <paramref name="feed"/> after the commit. <paramref name="ids"/> hands out the events' feed positions, inside the
/// write lock, so positions grow in commit order.
/// </summary>
public sealed class JobStore(CoordinatorStore store, IIngestOrder ids, JobFeedHub? feed = null)
{
    /// <summary>Restarts allowed and the failure rules (<see cref="CoordinatorOptions.RestartCap"/>, <c>--failure-rules</c>).</summary>
    public JobRules Rules { get; init; } = JobRules.Default;

    public int MaxRestarts => Rules.MaxRestarts;

    public string Create(JobSubmission s) => Transition((c, appended) =>
    {
        var (job, submitted) = JobProjection.Submit("job_" + Guid.NewGuid().ToString("N")[..16], s, Sql.Now());
        JobRows.Insert(c, job);
        appended.Add(JobEvents.Append(c, ids.Next(), job.Id, submitted)!);
        return job.Id;
    });

    /// <summary>
    /// Appends an event the coordinator raises (a budget alert, an anomaly) to the job's log. With a <paramref name="key"/>
    /// it is written at most once per job ("budget_alert:…"); answers whether it was written.
    /// </summary>
    public bool AppendEvent(string jobId, JobEventBody body, string? key = null) => Transition((c, appended) =>
    {
        if (JobEvents.Append(c, ids.Next(), jobId, body, key) is not { } e) return false;
        appended.Add(e);
        return true;
    });

    public JobRow? Get(string id)
    {
        using var c = store.OpenConnection();
        return JobRows.Get(c, id);
    }

    public (List<JobRow> Jobs, long Total) List(string? state, string? q, string? project, int limit, int offset)
    {
        using var c = store.OpenConnection();
        return JobRows.List(c, state, q, project, limit, offset);
    }

    public List<JobRow> InState(params string[] states)
    {
        using var c = store.OpenConnection();
        return JobRows.InState(c, states);
    }

    public void SetWaitingReason(string id, string? reason)
    {
        using var c = store.OpenConnection();
        JobRows.SetWaitingReason(c, id, reason);
    }

    /// <summary>Moves a queued job onto an agent at the agent's price (frozen for this assignment); false if it was no longer queued.</summary>
    public bool Assign(string id, string agentId, int? gpuIndex, double pricePerHour) => Transition((c, appended) =>
    {
        var agent = JobRows.AgentOf(c, agentId);
        var gpu = gpuIndex is { } g && agent.Inventory is not null ? NodeInventory.Parser.ParseJson(agent.Inventory).Gpus.FirstOrDefault(x => x.Index == g) : null;
        var placed = new Placed(agentId, agent.Name, gpuIndex, gpu?.Name, gpu is null ? null : (long)gpu.MemoryTotalBytes, pricePerHour);
        return Apply(c, id, placed, Rules, ids.Next, appended)?.Moved == true;
    });

    /// <summary>Puts every job a lost agent held back in the queue; it resumes from its last uploaded checkpoint. Returns their ids.</summary>
    public List<string> RequeueJobsOf(string agentId, string? reason = null) => Transition((c, appended) =>
    {
        var jobs = JobRows.OnAgent(c, agentId);
        foreach (var job in jobs)
            Apply(c, job.Id, new AgentLost(agentId, reason ?? $"agent {agentId} was lost", JobRows.LastCheckpoint(c, job.Id)), Rules, ids.Next, appended);
        JobRows.ReleaseAgent(c, agentId, null);
        return jobs.Select(j => j.Id).ToList();
    });

    /// <summary>A user's move: sets the new state directly when no agent needs to act (queued → cancelled, stopped → queued).</summary>
    /// <remarks>A move with reason <c>budget</c>, <c>anomaly:KIND</c> or <c>fail:KIND</c> is the coordinator's own (its budget guard, an anomaly policy), recorded as by: coordinator.</remarks>
    public bool TryUserMove(string id, string from, string to, string? stopReason, double? budgetUsd = null, double? budgetHours = null) =>
        Transition((c, appended) => Apply(c, id, new Moved(from, to, stopReason, budgetUsd, budgetHours, JobRows.LastCheckpoint(c, id)), Rules, ids.Next, appended)?.Moved == true);

    /// <summary>
    /// Applies one fact to the job inside the caller's transaction: the projection decides, this writes the row (when it
    /// changed), the billing, the agent's hold, and the events (added to <paramref name="appended"/>). Null when there is no such job.
    /// </summary>
    internal static Projected? Apply(SqliteConnection c, string jobId, JobFact fact, JobRules rules, Func<long> next, List<JobLogEntry> appended)
    {
        if (JobRows.Get(c, jobId) is not { } job) return null;
        var p = JobProjection.Apply(job, fact, rules, Sql.Now());
        if (p.Job != job && !JobRows.Save(c, job, p.Job))
            throw new InvalidOperationException($"job {jobId} changed under its own transaction");
        if (p.Billed is { } bill) CostLedger.Record(c, jobId, bill);
        if (p.Agent == AgentLink.Hold) JobRows.HoldAgent(c, p.Job.AgentId!, jobId);
        else if (p.Agent == AgentLink.Release && job.AgentId is { } held) JobRows.ReleaseAgent(c, held, jobId);
        foreach (var e in p.Events)
            if (JobEvents.Append(c, next(), jobId, e) is { } entry) appended.Add(entry);
        return p;
    }

    /// <summary>One transaction for a change and the events it appends, published once committed.</summary>
    private T Transition<T>(Func<SqliteConnection, List<JobLogEntry>, T> change)
    {
        var appended = new List<JobLogEntry>();
        T result;
        using (var c = store.OpenConnection())
        using (var tx = c.BeginTransaction(deferred: false))
        {
            result = change(c, appended);
            tx.Commit();
        }
        if (appended.Count > 0) feed?.Publish(appended);
        return result;
    }

    public void RecordCheckpoint(string jobId, long step, string sha, long bytes)
    {
        using var c = store.OpenConnection();
        JobRows.RecordCheckpoint(c, jobId, step, sha, bytes);
    }

    public void RecordAdapter(string jobId, string sha)
    {
        using var c = store.OpenConnection();
        JobRows.RecordAdapter(c, jobId, sha);
    }

    public List<CheckpointRow> Checkpoints(string jobId)
    {
        using var c = store.OpenConnection();
        return JobRows.Checkpoints(c, jobId);
    }
}
