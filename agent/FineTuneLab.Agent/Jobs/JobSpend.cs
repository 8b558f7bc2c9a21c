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
/// The agent's offline budget guard: the job's spend on this agent's clock (its uptime at the price frozen on the
/// assignment, plus earlier assignments) and the pace of its steps and checkpoints, to stop before the spend would
/// cross the budget while the coordinator may be unreachable. This spend is never sent: the coordinator's projection
/// is the job's one cost.
/// </summary>
public sealed class JobSpend(JobAssignment assignment)
{
    private readonly Stopwatch _uptime = new();
    private DateTime? _lastStepAt;
    private double _maxStepSeconds;
    private double? _checkpointSeconds;

    public double UptimeSeconds => _uptime.Elapsed.TotalSeconds;
    public long LastStep { get; private set; }

    public void Start() => _uptime.Start();
    public void Stop() => _uptime.Stop();

    public void ObserveStep(StepEvent e)
    {
        var now = DateTime.UtcNow;
        if (_lastStepAt is { } last)
        {
            var gap = (now - last).TotalSeconds;
            // Between two step events lie one step and whatever ran after the earlier one (an eval, a checkpoint):
            // the larger recent gap is the safe estimate of the time until the step in flight ends.
            _maxStepSeconds = Math.Max(_maxStepSeconds * 0.9, gap);
        }
        _lastStepAt = now;
        LastStep = e.Step;
    }

    public void ObserveCheckpoint(CheckpointEvent e)
    {
        // A checkpoint is written right after its step's event: the gap is how long writing one takes.
        if (_lastStepAt is { } at && e.Step == LastStep)
            _checkpointSeconds = (DateTime.UtcNow - at).TotalSeconds;
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
