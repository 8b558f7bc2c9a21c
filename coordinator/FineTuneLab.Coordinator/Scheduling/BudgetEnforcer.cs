using System.Globalization;
using System.Text.Json.Nodes;
using FineTuneLab.Coordinator.Jobs;
using FineTuneLab.Coordinator.Store;
using FineTuneLab.Shared.Costs;
using FineTuneLab.Shared.Jobs;
using FineTuneLab.Shared.Protos.Agent.V1;
using Budget = FineTuneLab.Shared.Costs.Budget;
using Microsoft.Extensions.Logging;

namespace FineTuneLab.Coordinator.Scheduling;

/// <summary>
/// The coordinator's layer of the budget: raises the 50%, 80% and 100% alerts as job events (each once per job and
/// budget, looked up in the stored events, so a restart repeats none), and orders checkpoint-and-stop as soon as
/// the step in flight plus a checkpoint, at the job's measured pace, would cross the budget
/// (<see cref="BudgetGuard"/>). The agent enforces the same rule from its own clock; this layer is the one that acts
/// while the agent is connected, a beat earlier, because its view of the uptime lags by up to a heartbeat.
/// </summary>
public sealed class BudgetEnforcer(CoordinatorRuntime runtime)
{
    /// <summary>How stale the coordinator's view of a job's uptime can be: a heartbeat plus a scheduler tick.</summary>
    private const double ViewLagSeconds = 1.5;
    public const string AlertEvent = "budget_alert";
    private readonly HashSet<string> _raised = new(StringComparer.Ordinal);
    private readonly HashSet<string> _loaded = new(StringComparer.Ordinal);

    /// <summary>Checks a job an agent holds: alerts, and the stop when the next step and a checkpoint would cross the budget.</summary>
    public void Check(JobRow job)
    {
        if (!job.Budget.IsLimited) return;
        var cost = job.Cost();
        RaiseAlerts(job, cost.FractionOfBudget, cost, stopOrdered: false);
        if (job.State is not (JobStates.Running or JobStates.Paused) || job.AgentId is not { } agent) return;
        var (stepSeconds, checkpointSeconds) = Pace(job.Id);
        var price = job.PricePerHour ?? 0;
        if (!BudgetGuard.MustStop(job.Budget, cost.SpentUsd + price * ViewLagSeconds / 3600.0, cost.HoursUsed + ViewLagSeconds / 3600.0,
                price, stepSeconds, checkpointSeconds))
            return;
        if (!runtime.Sessions.Send(agent, new CoordinatorMessage { Command = new JobCommand { JobId = job.Id, Kind = CommandKind.Stop, Reason = StopReasons.Budget } }))
            return; // the agent is away: its own guard stops the run; the order is tried again next tick
        runtime.Jobs.TryUserMove(job.Id, job.State, JobStates.Stopping, StopReasons.Budget);
        runtime.Log.LogWarning("job {Job}: budget: spent ${Spent:0.####} of {Budget}, next step {Step:0.00} s + checkpoint {Checkpoint:0.00} s would cross it: checkpoint and stop ordered",
            job.Id, cost.SpentUsd, Describe(job.Budget), stepSeconds, checkpointSeconds);
        RaiseAlerts(job, cost.FractionOfBudget, cost, stopOrdered: true);
    }

    /// <summary>A job that left its agent: the alerts its final spend crossed (the agent may have stopped it while the coordinator was unreachable).</summary>
    public void Finished(JobRow job)
    {
        if (!job.Budget.IsLimited) return;
        var cost = job.Cost();
        RaiseAlerts(job, cost.FractionOfBudget, cost, stopOrdered: job.StopReason == StopReasons.Budget);
    }

    private void RaiseAlerts(JobRow job, double? fraction, JobCost cost, bool stopOrdered)
    {
        if (fraction is null) return;
        LoadRaised(job.Id);
        foreach (var threshold in new[] { 0.5, 0.8, 1.0 })
        {
            // The 100% alert is the stop itself: with a predictive stop the spend ends just below the budget.
            var reached = threshold < 1.0 ? fraction >= threshold : fraction >= 1.0 || stopOrdered;
            if (!reached) continue;
            var key = Key(job.Id, threshold, job.Budget);
            if (_raised.Contains(key)) continue;
            var message = threshold < 1.0
                ? $"{threshold:P0} of the budget spent (${cost.SpentUsd:0.####}, {cost.HoursUsed:0.###} h of {Describe(job.Budget)})"
                : $"budget reached (${cost.SpentUsd:0.####}, {cost.HoursUsed:0.###} h of {Describe(job.Budget)}): the job checkpoints and stops; resume it with a raised budget to continue";
            if (!JobEvents.Append(runtime.Store, runtime.Ingest, job.Id, AlertEvent, new JsonObject
                {
                    ["threshold"] = threshold, ["fraction"] = Math.Round(fraction.Value, 6), ["spent_usd"] = Math.Round(cost.SpentUsd, 6),
                    ["hours_used"] = Math.Round(cost.HoursUsed, 6), ["max_usd"] = job.BudgetUsd, ["max_hours"] = job.BudgetHours, ["message"] = message,
                }, key: $"{AlertEvent}:{Key(job.Id, threshold, job.Budget)}"))
                continue;
            _raised.Add(key);
            runtime.Log.LogInformation("job {Job}: {Message}", job.Id, message);
        }
    }

    private void LoadRaised(string jobId)
    {
        if (!_loaded.Add(jobId)) return;
        foreach (var e in JobEvents.Events(runtime.Store, jobId, 0, AlertEvent))
        {
            if (JsonNode.Parse(e.Json) is not JsonObject o || o["threshold"] is not JsonValue t) continue;
            _raised.Add(Key(jobId, t.GetValue<double>(), new Budget(Num(o["max_usd"]), Num(o["max_hours"]))));
        }
    }

    private static double? Num(JsonNode? n) => n is JsonValue v && v.TryGetValue<double>(out var d) ? d : null;

    /// <summary>Alerts are per budget: a resume with a raised budget alerts again at its 50%, 80% and 100%.</summary>
    private static string Key(string jobId, double threshold, Budget b) =>
        string.Create(CultureInfo.InvariantCulture, $"{jobId}|{threshold}|{b.MaxUsd}|{b.MaxHours}");

    private static string Describe(Budget b) => string.Join(" / ", new[]
    {
        b.MaxUsd is { } u ? string.Create(CultureInfo.InvariantCulture, $"${u}") : null,
        b.MaxHours is { } h ? string.Create(CultureInfo.InvariantCulture, $"{h} h") : null,
    }.Where(x => x is not null));

    /// <summary>
    /// The job's recent pace from its trainer's events: the largest gap between its last step events (a step and
    /// whatever ran after the one before), and how long its last checkpoint took after its step (else a step's time,
    /// at least a second).
    /// </summary>
    private (double StepSeconds, double CheckpointSeconds) Pace(string jobId)
    {
        using var c = runtime.Store.OpenConnection();
        var steps = Sql.Query(c, "SELECT json FROM events WHERE job_id = $j AND type = 'step' ORDER BY ingest_id DESC LIMIT 4",
                r => JsonNode.Parse(r.GetString(0)) as JsonObject, ("$j", jobId))
            .Where(o => o is not null).Select(o => (Step: Num(o!["step"]), Elapsed: Num(o["elapsed_s"]), Time: Time(o))).ToList();
        var stepSeconds = 0.0;
        for (var i = 0; i + 1 < steps.Count; i++)
            if (steps[i].Elapsed is { } a && steps[i + 1].Elapsed is { } b) stepSeconds = Math.Max(stepSeconds, a - b);
        double? checkpointSeconds = null;
        if (Sql.Scalar(c, "SELECT json FROM events WHERE job_id = $j AND type = 'checkpoint' ORDER BY ingest_id DESC LIMIT 1", ("$j", jobId)) is string cj &&
            JsonNode.Parse(cj) is JsonObject ck && Num(ck["step"]) is { } ckStep && Time(ck) is { } ckTime &&
            Sql.Query(c, "SELECT json FROM events WHERE job_id = $j AND type = 'step' ORDER BY ingest_id DESC LIMIT 200", r => JsonNode.Parse(r.GetString(0)) as JsonObject, ("$j", jobId))
                .FirstOrDefault(o => Num(o?["step"]) == ckStep) is { } stepEvent && Time(stepEvent) is { } stepTime)
            checkpointSeconds = Math.Max(0, (ckTime - stepTime).TotalSeconds);
        return (stepSeconds, checkpointSeconds ?? Math.Max(1.0, stepSeconds));
    }

    private static DateTimeOffset? Time(JsonObject o) =>
        o["time"] is JsonValue v && v.TryGetValue<string>(out var s) && DateTimeOffset.TryParse(s, CultureInfo.InvariantCulture, DateTimeStyles.None, out var t) ? t : null;
}
