using FineTuneLab.Coordinator.Jobs;
using FineTuneLab.Events;
using FineTuneLab.Shared.Costs;
using FineTuneLab.Shared.Jobs;
using FineTuneLab.Shared.Protos.Agent.V1;
using Microsoft.Extensions.Logging;

namespace FineTuneLab.Coordinator.Scheduling;

/// <summary>
/// Carries out the budget decisions of <see cref="JobProjection"/> (its alerts, its stop order) for the jobs agents
/// hold, from the job's projected row alone (spend, budget and the trainer's pace are in it, no event is re-read):
/// sends checkpoint-and-stop to the agent and appends the alerts, each once per job and budget (the keys already in the log are loaded once, so a restart repeats none). The agent applies
/// the same rule from its own clock while it is cut off.
/// </summary>
public sealed class BudgetEnforcer(CoordinatorRuntime runtime)
{
    public const string AlertEvent = JobEvents.BudgetAlert;
    private readonly HashSet<string> _raised = new(StringComparer.Ordinal);
    private readonly HashSet<string> _loaded = new(StringComparer.Ordinal);

    /// <summary>Checks a job an agent holds: alerts, and the stop when the next step and a checkpoint would cross the budget.</summary>
    public void Check(JobRow job)
    {
        if (!job.Budget.IsLimited) return;
        Raise(job, stopOrdered: false);
        if (job.AgentId is not { } agent || !JobProjection.MustStop(job)) return;
        if (!runtime.Sessions.Send(agent, new CoordinatorMessage { Command = new JobCommand { JobId = job.Id, Kind = CommandKind.Stop, Reason = StopReasons.Budget } }))
            return; // the agent is away: its own guard stops the run; the order is tried again next tick
        runtime.Jobs.TryUserMove(job.Id, job.State, JobStates.Stopping, StopReasons.Budget);
        runtime.Log.LogWarning("job {Job}: budget: spent ${Spent:0.####} of {Budget}: the next step and a checkpoint would cross it: checkpoint and stop ordered",
            job.Id, JobProjection.Spend(job).SpentUsd, JobProjection.Describe(job.Budget));
        Raise(job, stopOrdered: true);
    }

    /// <summary>A job that left its agent: the alerts its final spend crossed (the agent may have stopped it while the coordinator was unreachable).</summary>
    public void Finished(JobRow job)
    {
        if (job.Budget.IsLimited) Raise(job, stopOrdered: job.StopReason == StopReasons.Budget);
    }

    private void Raise(JobRow job, bool stopOrdered)
    {
        LoadRaised(job.Id);
        foreach (var (key, alert) in JobProjection.BudgetAlerts(job, stopOrdered, _raised))
        {
            _raised.Add(key);
            if (runtime.Jobs.AppendEvent(job.Id, alert, key)) runtime.Log.LogInformation("job {Job}: {Message}", job.Id, alert.Message);
        }
    }

    private void LoadRaised(string jobId)
    {
        if (!_loaded.Add(jobId)) return;
        foreach (var e in JobEvents.Read(runtime.Store, jobId, 0, AlertEvent, log: runtime.Log))
            if (e.Body is BudgetAlert a) _raised.Add(JobProjection.AlertKey(jobId, a.Threshold, new FineTuneLab.Shared.Costs.Budget(a.MaxUsd, a.MaxHours)));
    }
}
