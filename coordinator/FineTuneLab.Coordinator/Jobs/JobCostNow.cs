using System.Text.Json.Nodes;
using FineTuneLab.Coordinator.Store;
using FineTuneLab.Shared.Costs;

namespace FineTuneLab.Coordinator.Jobs;

/// <summary>
/// A job's cost as the API shows it in every state: spend so far, the rate it is billed at now (0 unless an agent
/// holds it), the projected total with what it rests on, or why there is none, and where it stands against its budget.
/// </summary>
public sealed record JobCostNow(double SpentUsd, double HoursUsed, double RateUsdPerHour, double? ProjectedUsd,
    string? ProjectionBasis, string? ProjectionReason, double? FractionOfBudget, BudgetState BudgetState)
{
    /// <summary>Projection bases: the live throughput on the current agent, the last run's (a queued or stopped job resumed at its last price), or the final spend.</summary>
    public const string CurrentThroughput = "current_throughput", LastRunThroughput = "last_run_throughput", Final = "final";

    public static JobCostNow Of(CoordinatorStore store, JobRow job) => Of(job, JobEvents.Latest(store, job.Id, "step"));

    /// <param name="lastStep">The job's latest trainer <c>step</c> event (throughput and tokens left in the plan), if any.</param>
    public static JobCostNow Of(JobRow job, JsonObject? lastStep)
    {
        var onAgent = JobStates.OnAgent(job.State);
        var (tokensLeft, tokensPerSecond) = Throughput(lastStep);
        var cost = job.Cost();
        var rate = onAgent ? job.PricePerHour ?? 0 : 0;

        double? projected = null;
        string? basis = null, reason = null;
        if (job.State is JobStates.Succeeded or JobStates.Failed or JobStates.Cancelled)
        {
            (projected, basis) = (cost.SpentUsd, Final);
        }
        else if (tokensLeft is null || tokensPerSecond is null)
        {
            reason = job.State switch
            {
                JobStates.Queued when job.PricePerHour is null => "not run yet: the projection appears with the throughput of the job's first steps on an agent",
                JobStates.Stopped => "the job reported no training steps before it stopped",
                _ => "waiting for the throughput of the job's first training steps",
            };
        }
        else
        {
            // A queued (re-queued or resumed) or stopped job is projected at the price and throughput of its last run.
            var price = job.PricePerHour ?? 0;
            projected = cost.SpentUsd + price * (tokensLeft.Value / tokensPerSecond.Value) / 3600.0;
            basis = onAgent ? CurrentThroughput : LastRunThroughput;
        }
        return new JobCostNow(cost.SpentUsd, cost.HoursUsed, rate, projected, basis, reason, cost.FractionOfBudget, cost.State);
    }

    /// <summary>The budget state's API name.</summary>
    public string BudgetStateName => BudgetState switch
    {
        BudgetState.WithinBudget => "within_budget",
        BudgetState.Above50Percent => "above_50_percent",
        BudgetState.Above80Percent => "above_80_percent",
        BudgetState.Exhausted => "exhausted",
        _ => "unlimited",
    };

    private static (long? TokensLeft, double? TokensPerSecond) Throughput(JsonObject? step)
    {
        double? tps = step?["tokens_per_s"] is JsonValue t && t.TryGetValue<double>(out var tv) && tv > 0 ? tv : null;
        long? left = null;
        // `tokens` is cumulative over the run (resumes included), so tokens per step is tokens / step.
        if (step?["step"] is JsonValue s && step["total_steps"] is JsonValue ts && step["tokens"] is JsonValue tk &&
            s.TryGetValue<long>(out var sv) && ts.TryGetValue<long>(out var tsv) && tk.TryGetValue<long>(out var tkv) && sv > 0)
            left = Math.Max(0, tsv - sv) * (tkv / sv);
        return (left, tps);
    }
}
