using FineTuneLab.Coordinator.Jobs;
using FineTuneLab.Shared.Protos.Agent.V1;
using Microsoft.Extensions.Logging;

namespace FineTuneLab.Coordinator.Scheduling;

/// <summary>
/// One tick of the coordinator's control loop (run by <see cref="SchedulerService"/>): marks agents lost after missed
/// heartbeats (re-queueing their jobs), places queued jobs with <see cref="Scheduler"/> on connected idle agents and
/// sends the assignments, records why the others wait, and keeps running jobs within their budgets
/// (<see cref="BudgetEnforcer"/>). Anomalies have their own hosted loop (<see cref="Anomalies.AnomalyWatcherService"/>).
/// </summary>
public sealed class SchedulerLoop(CoordinatorRuntime runtime, TimeSpan heartbeatTimeout)
{
    private readonly BudgetEnforcer _budgets = new(runtime);
    private HashSet<string> _onAgent = new(StringComparer.Ordinal);
    private readonly DateTime _startedAt = DateTime.UtcNow;

    public void Tick()
    {
        // Silence while the coordinator itself was down is no agent's fault: after a (re)start every agent gets a full
        // timeout to reconnect before it can be lost (else a restart mid-run would re-queue jobs that are running fine).
        var lostCandidates = DateTime.UtcNow - _startedAt >= heartbeatTimeout ? runtime.Agents.MarkLost(heartbeatTimeout) : [];
        foreach (var agent in lostCandidates)
        {
            var jobs = runtime.Jobs.RequeueJobsOf(agent);
            runtime.Log.LogWarning("agent {Agent} lost (no heartbeat for {Timeout}); re-queued [{Jobs}]", agent, heartbeatTimeout, string.Join(",", jobs));
        }

        var queued = runtime.Jobs.InState(JobStates.Queued);
        if (queued.Count > 0)
        {
            var plan = Scheduler.Plan(queued.Select(j => new QueuedJob(j.Id, j.Priority, DateTimeOffset.Parse(j.CreatedAt, System.Globalization.CultureInfo.InvariantCulture),
                    JobResources.Requirements(j))),
                runtime.Agents.Capacities(runtime.Sessions.Connected));
            foreach (var p in plan.Placements)
            {
                if (!runtime.Jobs.Assign(p.JobId, p.AgentId, p.GpuIndex, p.PricePerHour)) continue;
                var job = runtime.Jobs.Get(p.JobId)!;
                runtime.Log.LogInformation("job {Job} assigned to {Agent} at ${Price}/h", job.Id, p.AgentId, p.PricePerHour);
                runtime.Sessions.Send(p.AgentId, new CoordinatorMessage { Assign = AssignmentBuilder.Build(runtime.Store, job) });
            }
            foreach (var w in plan.Waiting) runtime.Jobs.SetWaitingReason(w.JobId, w.Reason);
        }

        var onAgent = runtime.Jobs.InState(JobStates.Assigned, JobStates.Running, JobStates.Paused, JobStates.Stopping);
        foreach (var job in onAgent) _budgets.Check(job);
        // A job that left its agent since the last tick: the alerts of its final spend (the agent may have stopped it on
        // its own). A retryable failure was already re-queued by the projection when the agent reported it.
        foreach (var id in _onAgent.Where(id => onAgent.All(j => j.Id != id)))
            if (runtime.Jobs.Get(id) is { } gone) _budgets.Finished(gone);
        _onAgent = onAgent.Select(j => j.Id).ToHashSet(StringComparer.Ordinal);
    }
}
