using FineTuneLab.Shared.Costs;

namespace FineTuneLab.Coordinator.Jobs;

/// <summary>
/// A job's cost as the API shows it in every state (decided by <see cref="JobProjection.Cost"/>): spend so far, the
/// rate it is billed at now (0 unless an agent holds it), the projected total with what it rests on, or why there is
/// none, and where it stands against its budget.
/// </summary>
public sealed record JobCostNow(double SpentUsd, double HoursUsed, double RateUsdPerHour, double? ProjectedUsd,
    string? ProjectionBasis, string? ProjectionReason, double? FractionOfBudget, BudgetState BudgetState)
{
    /// <summary>Projection bases: the live throughput on the current agent, the last run's (a queued or stopped job resumed at its last price), or the final spend.</summary>
    public const string CurrentThroughput = "current_throughput", LastRunThroughput = "last_run_throughput", Final = "final";

    /// <summary>The budget state's API name.</summary>
    public string BudgetStateName => BudgetState switch
    {
        BudgetState.WithinBudget => "within_budget",
        BudgetState.Above50Percent => "above_50_percent",
        BudgetState.Above80Percent => "above_80_percent",
        BudgetState.Exhausted => "exhausted",
        _ => "unlimited",
    };
}
