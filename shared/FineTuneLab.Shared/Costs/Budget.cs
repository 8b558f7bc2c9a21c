namespace FineTuneLab.Shared.Costs;

/// <summary>A job's spending limits (either or both); null means no limit of that kind.</summary>
public sealed record Budget(double? MaxUsd, double? MaxHours)
{
    public static readonly Budget None = new(null, null);

    public bool IsLimited => MaxUsd is not null || MaxHours is not null;
}

/// <summary>Where a job stands against its budget; the alert thresholds are 50%, 80% and 100%.</summary>
public enum BudgetState
{
    Unlimited,
    WithinBudget,
    Above50Percent,
    Above80Percent,
    Exhausted,
}
