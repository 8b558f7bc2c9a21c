using FineTuneLab.Shared.Costs;

namespace FineTuneLab.Shared.Tests.Costs;

/// <summary>
/// The guard driven the way the agent drives it — every quarter second, with the largest recent gap between step
/// events as the step estimate (none before the second step) — over runs with uneven step times. A stop takes
/// effect when the step in flight ends and the checkpoint is written; the final spend never passes the budget by
/// more than one step's cost, and is not more than one step's cost below it.
/// </summary>
public class BudgetGuardRunTests
{
    private const double Tick = 0.25;

    [Theory]
    [InlineData(1, 0.5, 1.5, 0.3)]
    [InlineData(2, 0.1, 3.0, 2.0)]
    [InlineData(3, 1.0, 1.0, 0.0)]
    [InlineData(4, 0.2, 0.4, 5.0)]
    [InlineData(5, 5.0, 20.0, 30.0)]
    public void Spend_ends_within_one_step_of_the_budget(int seed, double minStep, double maxStep, double checkpoint)
    {
        const double pricePerHour = 36; // $0.01 per second
        const double perSecond = pricePerHour / 3600;
        var budget = new Budget(MaxUsd: 5.0, MaxHours: null);
        var random = new Random(seed);

        for (var run = 0; run < 200; run++)
        {
            var t = 3.0 + random.NextDouble() * 5; // the trainer's start
            var estimate = 0.0;
            var stoppedAt = double.NaN;
            for (var step = 0; double.IsNaN(stoppedAt); step++)
            {
                var end = t + minStep + (maxStep - minStep) * random.NextDouble();
                for (var now = Math.Min(t + Tick, end); ; now = Math.Min(now + Tick, end))
                {
                    if (BudgetGuard.MustStop(budget, now * perSecond, now / 3600, pricePerHour, estimate, checkpoint))
                    {
                        stoppedAt = end + checkpoint;
                        break;
                    }
                    if (now >= end) break;
                }
                if (step > 0) estimate = Math.Max(estimate * 0.9, end - t);
                t = end;
            }
            var spent = stoppedAt * perSecond;
            Assert.True(spent <= budget.MaxUsd + maxStep * perSecond, $"run {run}: spent {spent} of {budget.MaxUsd}");
            Assert.True(spent >= budget.MaxUsd - maxStep * perSecond, $"run {run}: stopped early, at {spent} of {budget.MaxUsd}");
        }
    }
}
