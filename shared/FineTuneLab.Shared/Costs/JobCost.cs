namespace FineTuneLab.Shared.Costs;

/// <summary>
/// What a job has cost and will cost. Spend comes from the uptime the agents themselves observed while holding the
/// job, each period billed at the price frozen on the job when it was assigned to that agent, summed across
/// restarts and nodes (the coordinator's wall clock would bill a lost agent's silence or a queue wait).
/// </summary>
public sealed record JobCost(double SpentUsd, double HoursUsed, double RateUsdPerHour, double? ProjectedUsd,
    double? FractionOfBudget, BudgetState State)
{
    /// <param name="previousUsd">Spend of earlier assignments (other agents, earlier runs).</param>
    /// <param name="previousHours">Hours of earlier assignments.</param>
    /// <param name="pricePerHour">The price frozen on the current assignment (0 when not running).</param>
    /// <param name="uptimeSeconds">Seconds the current agent has held the job, as the agent reports.</param>
    /// <param name="tokensLeft">Training tokens left in the plan, when known.</param>
    /// <param name="tokensPerSecond">Current throughput, when known.</param>
    public static JobCost Compute(double previousUsd, double previousHours, double pricePerHour, double uptimeSeconds,
        Budget budget, long? tokensLeft = null, double? tokensPerSecond = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(pricePerHour);
        ArgumentOutOfRangeException.ThrowIfNegative(uptimeSeconds);
        var hoursNow = uptimeSeconds / 3600.0;
        var spent = previousUsd + pricePerHour * hoursNow;
        var hours = previousHours + hoursNow;

        double? projected = null;
        if (tokensLeft is { } left && tokensPerSecond is > 0)
            projected = spent + pricePerHour * (left / tokensPerSecond.Value) / 3600.0;

        var fraction = Fraction(spent, hours, budget);
        return new JobCost(spent, hours, pricePerHour, projected, fraction, StateOf(fraction));
    }

    /// <summary>The larger of the dollar and the hour fractions used; null when the budget has no limit.</summary>
    public static double? Fraction(double spentUsd, double hours, Budget budget)
    {
        double? f = null;
        if (budget.MaxUsd is { } maxUsd) f = maxUsd <= 0 ? double.PositiveInfinity : spentUsd / maxUsd;
        if (budget.MaxHours is { } maxHours)
        {
            var h = maxHours <= 0 ? double.PositiveInfinity : hours / maxHours;
            f = f is null ? h : Math.Max(f.Value, h);
        }
        return f;
    }

    public static BudgetState StateOf(double? fraction) => fraction switch
    {
        null => BudgetState.Unlimited,
        >= 1.0 => BudgetState.Exhausted,
        >= 0.8 => BudgetState.Above80Percent,
        >= 0.5 => BudgetState.Above50Percent,
        _ => BudgetState.WithinBudget,
    };
}
