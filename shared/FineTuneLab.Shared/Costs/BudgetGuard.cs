namespace FineTuneLab.Shared.Costs;

/// <summary>
/// Decides when a job must checkpoint and stop so that spend never passes the budget by more than one training
/// step. Both the coordinator and the agent run it: the agent carries the job's budget and price so that a network
/// cut cannot let a run spend on unobserved.
///
/// A stop takes effect after the step in flight ends and its checkpoint is written (the trainer's SIGTERM
/// contract), so the guard stops as soon as the spend after one more step plus a checkpoint would cross a limit.
/// </summary>
public static class BudgetGuard
{
    /// <param name="spentUsd">Spend so far, all assignments included.</param>
    /// <param name="hoursUsed">Hours so far, all assignments included.</param>
    /// <param name="pricePerHour">The current assignment's frozen price.</param>
    /// <param name="stepSeconds">The recent duration of one optimizer step (the largest recent one is safest).</param>
    /// <param name="checkpointSeconds">How long a checkpoint takes to write (last measured, or an estimate).</param>
    public static bool MustStop(Budget budget, double spentUsd, double hoursUsed, double pricePerHour,
        double stepSeconds, double checkpointSeconds)
    {
        if (!budget.IsLimited) return false;
        var aheadHours = Math.Max(0, stepSeconds + checkpointSeconds) / 3600.0;
        if (budget.MaxUsd is { } maxUsd && spentUsd + pricePerHour * aheadHours >= maxUsd) return true;
        if (budget.MaxHours is { } maxHours && hoursUsed + aheadHours >= maxHours) return true;
        return false;
    }

    /// <summary>
    /// The alert thresholds (0.5, 0.8, 1.0) crossed going from <paramref name="before"/> to <paramref name="after"/>,
    /// so each alert is raised exactly once however the fraction moves between reports.
    /// </summary>
    public static IReadOnlyList<double> CrossedThresholds(double? before, double? after) =>
        after is null ? [] : AlertThresholds.Where(t => (before ?? 0) < t && after.Value >= t).ToArray();

    private static readonly double[] AlertThresholds = [0.5, 0.8, 1.0];
}
