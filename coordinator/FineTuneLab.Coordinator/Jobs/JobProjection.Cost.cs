using FineTuneLab.Events;
using FineTuneLab.Shared.Costs;
using static FineTuneLab.Coordinator.Jobs.JobStates;

namespace FineTuneLab.Coordinator.Jobs;

public static partial class JobProjection
{
    /// <summary>Spend so far: earlier assignments plus the current one billed at its frozen price (the one cost formula).</summary>
    public static JobCost Spend(JobRow job) =>
        JobCost.Compute(job.SpentBeforeUsd, job.HoursBefore, OnAgent(job.State) ? job.PricePerHour ?? 0 : 0,
            OnAgent(job.State) ? job.UptimeSeconds : 0, job.Budget);

    /// <param name="lastStep">The job's latest trainer step (throughput and tokens left in the plan), if any.</param>
    public static JobCostNow Cost(JobRow job, StepEvent? lastStep)
    {
        var onAgent = OnAgent(job.State);
        var (tokensLeft, tokensPerSecond) = Throughput(lastStep);
        var cost = Spend(job);
        var rate = onAgent ? job.PricePerHour ?? 0 : 0;

        double? projected = null;
        string? basis = null, reason = null;
        if (job.State is Succeeded or Failed or Cancelled)
        {
            (projected, basis) = (cost.SpentUsd, JobCostNow.Final);
        }
        else if (tokensLeft is null || tokensPerSecond is null)
        {
            reason = job.State switch
            {
                Queued when job.PricePerHour is null => "not run yet: the projection appears with the throughput of the job's first steps on an agent",
                Stopped => "the job reported no training steps before it stopped",
                _ => "waiting for the throughput of the job's first training steps",
            };
        }
        else
        {
            // A queued (re-queued or resumed) or stopped job is projected at the price and throughput of its last run.
            var price = job.PricePerHour ?? 0;
            projected = cost.SpentUsd + price * (tokensLeft.Value / tokensPerSecond.Value) / 3600.0;
            basis = onAgent ? JobCostNow.CurrentThroughput : JobCostNow.LastRunThroughput;
        }
        return new JobCostNow(cost.SpentUsd, cost.HoursUsed, rate, projected, basis, reason, cost.FractionOfBudget, cost.State);
    }

    private static (long? TokensLeft, double? TokensPerSecond) Throughput(StepEvent? step)
    {
        if (step is null) return (null, null);
        double? tps = step.TokensPerS > 0 ? step.TokensPerS : null;
        // `tokens` is cumulative over the run (resumes included), so tokens per step is tokens / step.
        long? left = step.Step > 0 ? Math.Max(0, step.TotalSteps - step.Step) * (step.Tokens / step.Step) : null;
        return (left, tps);
    }
}
