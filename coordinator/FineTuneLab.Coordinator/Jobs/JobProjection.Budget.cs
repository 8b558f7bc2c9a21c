using System.Globalization;
using FineTuneLab.Events;
using FineTuneLab.Shared.Costs;

namespace FineTuneLab.Coordinator.Jobs;

/// <summary>A job's recent pace: the longest of its last steps, and how long its last checkpoint took after its step.</summary>
public sealed record JobPace(double StepSeconds, double CheckpointSeconds);

/// <summary>A step as the pace remembers it: its number, the trainer's elapsed time and the event's time.</summary>
public sealed record PacedStep(long Step, double ElapsedS, DateTimeOffset Time);

/// <summary>
/// The trainer's pace as the job's row keeps it (<see cref="JobRow.Pace"/>), folded from its step and checkpoint events
/// as they are stored (<see cref="JobProjection.ObservePace"/>): the last few steps, and how long the last checkpoint
/// took after its step (null: its step is not among them).
/// </summary>
public sealed record PaceState(IReadOnlyList<PacedStep> Recent, double? CheckpointSeconds)
{
    public static PaceState Empty { get; } = new([], null);
}

public static partial class JobProjection
{
    /// <summary>How stale the coordinator's view of a job's uptime can be: a heartbeat plus a scheduler tick.</summary>
    public const double ViewLagSeconds = 1.5;

    private static readonly double[] AlertThresholds = [0.5, 0.8, 1.0];

    /// <summary>How many of the last steps the pace keeps (their largest gap is the step time).</summary>
    public const int PaceSteps = 4;

    /// <summary>
    /// Folds a trainer event into the pace: a step joins the last <see cref="PaceSteps"/>; a checkpoint takes the time
    /// from its step's event to its own (unknown when its step is no longer among them). Other events change nothing.
    /// </summary>
    public static PaceState ObservePace(PaceState pace, TrainerEvent e) => e switch
    {
        StepEvent s => pace with { Recent = [.. pace.Recent.Skip(Math.Max(0, pace.Recent.Count - (PaceSteps - 1))), new PacedStep(s.Step, s.ElapsedS, s.Time)] },
        CheckpointEvent c => pace with
        {
            CheckpointSeconds = pace.Recent.LastOrDefault(r => r.Step == c.Step) is { } step ? Math.Max(0, (c.Time - step.Time).TotalSeconds) : null,
        },
        _ => pace,
    };

    /// <summary>
    /// The job's pace: the largest gap between its last steps' elapsed times (a step and whatever ran after the one
    /// before), and the time from the last checkpoint's step to the checkpoint (else a step's time, at least a second).
    /// </summary>
    public static JobPace Pace(PaceState pace)
    {
        var stepSeconds = 0.0;
        for (var i = 1; i < pace.Recent.Count; i++) stepSeconds = Math.Max(stepSeconds, pace.Recent[i].ElapsedS - pace.Recent[i - 1].ElapsedS);
        return new JobPace(stepSeconds, pace.CheckpointSeconds ?? Math.Max(1.0, stepSeconds));
    }

    /// <summary>
    /// Whether the coordinator orders checkpoint-and-stop now: the step in flight plus a checkpoint, at the job's
    /// pace, would cross the budget (<see cref="BudgetGuard"/>), seen <see cref="ViewLagSeconds"/> ahead because the
    /// uptime it knows lags the agent's. The agent applies the same rule from its own clock while it is cut off.
    /// </summary>
    public static bool MustStop(JobRow job) => MustStop(job, Pace(job.Pace));

    public static bool MustStop(JobRow job, JobPace pace)
    {
        if (!job.Budget.IsLimited || job.State is not (JobStates.Running or JobStates.Paused) || job.AgentId is null) return false;
        var cost = Spend(job);
        var price = job.PricePerHour ?? 0;
        return BudgetGuard.MustStop(job.Budget, cost.SpentUsd + price * ViewLagSeconds / 3600.0, cost.HoursUsed + ViewLagSeconds / 3600.0,
            price, pace.StepSeconds, pace.CheckpointSeconds);
    }

    /// <summary>
    /// The 50%, 80% and 100% alerts the job's spend has reached and that are not in <paramref name="raised"/> (keys of
    /// <see cref="AlertKey"/>), each with its key. The 100% alert is the stop itself: with a predictive stop the
    /// spend ends just below the budget, so <paramref name="stopOrdered"/> raises it.
    /// </summary>
    public static List<(string Key, BudgetAlert Alert)> BudgetAlerts(JobRow job, bool stopOrdered, IReadOnlySet<string> raised)
    {
        var alerts = new List<(string, BudgetAlert)>();
        var cost = Spend(job);
        if (cost.FractionOfBudget is not { } fraction) return alerts;
        foreach (var threshold in AlertThresholds)
        {
            var reached = threshold < 1.0 ? fraction >= threshold : fraction >= 1.0 || stopOrdered;
            var key = AlertKey(job.Id, threshold, job.Budget);
            if (!reached || raised.Contains(key)) continue;
            var message = threshold < 1.0
                ? $"{threshold:P0} of the budget spent (${cost.SpentUsd:0.####}, {cost.HoursUsed:0.###} h of {Describe(job.Budget)})"
                : $"budget reached (${cost.SpentUsd:0.####}, {cost.HoursUsed:0.###} h of {Describe(job.Budget)}): the job checkpoints and stops; resume it with a raised budget to continue";
            alerts.Add((key, new BudgetAlert(threshold, Math.Round(fraction, 6), Math.Round(cost.SpentUsd, 6), Math.Round(cost.HoursUsed, 6),
                job.BudgetUsd, job.BudgetHours, message)));
        }
        return alerts;
    }

    /// <summary>An alert's once-only key: alerts are per budget, so a resume with a raised budget alerts again at its 50%, 80% and 100%.</summary>
    public static string AlertKey(string jobId, double threshold, Budget b) =>
        string.Create(CultureInfo.InvariantCulture, $"{JobEvents.BudgetAlert}:{jobId}|{threshold}|{b.MaxUsd}|{b.MaxHours}");

    public static string Describe(Budget b) => string.Join(" / ", new[]
    {
        b.MaxUsd is { } u ? string.Create(CultureInfo.InvariantCulture, $"${u}") : null,
        b.MaxHours is { } h ? string.Create(CultureInfo.InvariantCulture, $"{h} h") : null,
    }.Where(x => x is not null));
}
