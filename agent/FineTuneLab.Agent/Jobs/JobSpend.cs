using System.Diagnostics;
using FineTuneLab.Events;
using FineTuneLab.Shared.Costs;
using FineTuneLab.Shared.Protos.Agent.V1;
using CheckpointEvent = FineTuneLab.Events.CheckpointEvent;
using StepEvent = FineTuneLab.Events.StepEvent;
using TrainerEvent = FineTuneLab.Events.TrainerEvent;
using Budget = FineTuneLab.Shared.Costs.Budget;

namespace FineTuneLab.Agent.Jobs;

/// <summary>
/// A job's spend on this agent's clock: its uptime (the node is billed while the trainer holds it) at the price frozen
/// on the assignment, plus earlier assignments; the pace of its steps and checkpoints; the cost at each step; and the
/// offline budget guard (stop before the spend would cross the budget).
/// </summary>
public sealed class JobSpend(JobAssignment assignment)
{
    private readonly Stopwatch _uptime = new();
    private DateTime? _lastStepAt;
    private double _maxStepSeconds;
    private double? _checkpointSeconds;
    private double? _meanStepSeconds;

    public double UptimeSeconds => _uptime.Elapsed.TotalSeconds;
    public long LastStep { get; private set; }
    public long TotalSteps { get; private set; }

    public void Start() => _uptime.Start();
    public void Stop() => _uptime.Stop();

    public void ObserveStep(StepEvent e)
    {
        var now = DateTime.UtcNow;
        if (_lastStepAt is { } last)
        {
            var gap = (now - last).TotalSeconds;
            // Between two step events lie one step and whatever ran after the earlier one (an eval, a checkpoint):
            // the larger recent gap is the safe estimate of the time until the step in flight ends; the average one
            // is the pace that projects the cost of the steps left.
            _maxStepSeconds = Math.Max(_maxStepSeconds * 0.9, gap);
            _meanStepSeconds = _meanStepSeconds is { } m ? 0.9 * m + 0.1 * gap : gap;
        }
        _lastStepAt = now;
        LastStep = e.Step;
        TotalSteps = e.TotalSteps;
    }

    public void ObserveCheckpoint(CheckpointEvent e)
    {
        // A checkpoint is written right after its step's event: the gap is how long writing one takes.
        if (_lastStepAt is { } at && e.Step == LastStep)
            _checkpointSeconds = (DateTime.UtcNow - at).TotalSeconds;
    }

    /// <summary>The spend at the step just observed, as the step message carries it (the feeds and the dashboard show it).</summary>
    public StepCost StepCost()
    {
        var cost = CostNow();
        var result = new StepCost { SpentUsd = Math.Round(cost.SpentUsd, 6), HoursUsed = Math.Round(cost.HoursUsed, 6), RateUsdPerHour = cost.RateUsdPerHour };
        if (_meanStepSeconds is { } pace && TotalSteps >= LastStep)
            result.ProjectedUsd = Math.Round(cost.SpentUsd + cost.RateUsdPerHour * (TotalSteps - LastStep) * pace / 3600.0, 6);
        if (cost.FractionOfBudget is { } f) result.BudgetFraction = Math.Round(f, 6);
        return result;
    }

    /// <summary>Why the job must stop now to stay inside its budget (a step and a checkpoint more would cross it), or null.</summary>
    public string? MustStop()
    {
        var budget = JobBudget();
        if (!budget.IsLimited) return null;
        var cost = CostNow();
        // Until a checkpoint was measured, assume it takes as long as a step (at least a second).
        var checkpointSeconds = _checkpointSeconds ?? Math.Max(1.0, _maxStepSeconds);
        return BudgetGuard.MustStop(budget, cost.SpentUsd, cost.HoursUsed, cost.RateUsdPerHour, _maxStepSeconds, checkpointSeconds)
            ? $"budget: stopping before spend would cross it (spent ${cost.SpentUsd:0.####} of ${budget.MaxUsd}, step {LastStep}, uptime {UptimeSeconds:0.0} s, step {_maxStepSeconds:0.00} s, checkpoint {checkpointSeconds:0.00} s)"
            : null;
    }

    private JobCost CostNow() =>
        JobCost.Compute(assignment.SpentUsdBefore, assignment.HoursBefore, assignment.PricePerHourUsd, UptimeSeconds, JobBudget());

    private Budget JobBudget() =>
        new(assignment.Budget?.MaxUsd is > 0 ? assignment.Budget.MaxUsd : null, assignment.Budget?.MaxHours is > 0 ? assignment.Budget.MaxHours : null);
}
