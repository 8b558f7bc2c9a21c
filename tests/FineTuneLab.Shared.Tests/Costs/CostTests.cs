using FineTuneLab.Shared.Costs;

namespace FineTuneLab.Shared.Tests.Costs;

public class CostTests
{
    [Fact]
    public void Spend_sums_earlier_assignments_and_the_current_uptime_at_its_frozen_price()
    {
        // 1.5 h earlier on another node costing $3, now 30 min at $2.40/h.
        var cost = JobCost.Compute(previousUsd: 3.0, previousHours: 1.5, pricePerHour: 2.40, uptimeSeconds: 1800, Budget.None);
        Assert.Equal(4.2, cost.SpentUsd, 9);
        Assert.Equal(2.0, cost.HoursUsed, 9);
        Assert.Equal(2.40, cost.RateUsdPerHour);
        Assert.Equal(BudgetState.Unlimited, cost.State);
        Assert.Null(cost.ProjectedUsd);
    }

    [Fact]
    public void Projection_adds_the_time_left_at_current_throughput()
    {
        // 3.6M tokens left at 1000 tokens/s = 1 h at $2/h.
        var cost = JobCost.Compute(0, 0, 2.0, 3600, new Budget(10, null), tokensLeft: 3_600_000, tokensPerSecond: 1000);
        Assert.Equal(2.0, cost.SpentUsd, 9);
        Assert.Equal(4.0, cost.ProjectedUsd!.Value, 9);
        Assert.Equal(0.2, cost.FractionOfBudget!.Value, 9);
        Assert.Equal(BudgetState.WithinBudget, cost.State);
    }

    [Theory]
    [InlineData(4.99, BudgetState.WithinBudget)]
    [InlineData(5.0, BudgetState.Above50Percent)]
    [InlineData(8.0, BudgetState.Above80Percent)]
    [InlineData(10.0, BudgetState.Exhausted)]
    public void Budget_state_follows_the_larger_fraction(double spent, BudgetState expected)
    {
        var cost = JobCost.Compute(spent, 0.1, 0, 0, new Budget(10, 100));
        Assert.Equal(expected, cost.State);
    }

    [Fact]
    public void Hours_limit_counts_too()
    {
        var cost = JobCost.Compute(0, 0, 1.0, 3 * 3600, new Budget(1000, 4));
        Assert.Equal(0.75, cost.FractionOfBudget!.Value, 9);
        Assert.Equal(BudgetState.Above50Percent, cost.State);
    }

    [Fact]
    public void Guard_stops_when_one_more_step_and_a_checkpoint_would_cross_the_budget()
    {
        var budget = new Budget(MaxUsd: 1.0, MaxHours: null);
        // $3.6/h = $0.001/s; a 10 s step + 5 s checkpoint costs $0.015.
        Assert.False(BudgetGuard.MustStop(budget, 0.984, 0, 3.6, 10, 5));
        Assert.True(BudgetGuard.MustStop(budget, 0.986, 0, 3.6, 10, 5));
        Assert.False(BudgetGuard.MustStop(Budget.None, 1e9, 1e9, 3.6, 10, 5));
        Assert.True(BudgetGuard.MustStop(new Budget(null, 1.0), 0, 1.0 - 10.0 / 3600, 0, 8, 3));
    }

    [Fact]
    public void Each_alert_threshold_is_crossed_once()
    {
        Assert.Equal([0.5], BudgetGuard.CrossedThresholds(0.4, 0.6));
        Assert.Equal([0.5, 0.8, 1.0], BudgetGuard.CrossedThresholds(null, 1.2));
        Assert.Empty(BudgetGuard.CrossedThresholds(0.6, 0.7));
        Assert.Empty(BudgetGuard.CrossedThresholds(0.6, null));
    }
}
