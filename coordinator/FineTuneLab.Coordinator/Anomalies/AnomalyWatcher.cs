using StepEvent = FineTuneLab.Events.StepEvent;
using EvalEvent = FineTuneLab.Events.EvalEvent;
using WarningEvent = FineTuneLab.Events.WarningEvent;
using CheckpointEvent = FineTuneLab.Events.CheckpointEvent;
using System.Globalization;
using System.Text.Json.Nodes;
using FineTuneLab.Coordinator.Jobs;
using FineTuneLab.Coordinator.Store;
using FineTuneLab.Events;
using FineTuneLab.Shared.Protos.Agent.V1;
using Microsoft.Extensions.Logging;

namespace FineTuneLab.Coordinator.Anomalies;

/// <summary>
/// Turns anomalies into job events (type <c>anomaly</c>: kind, message, step, source, action) and carries out the
/// job's policy for them: the trainer's own warnings (nan_loss, loss_spike, ...) as they are ingested, and the
/// coordinator's checks of the streams (<see cref="AnomalyDetector"/>) for every running job. Each trainer warning
/// becomes one anomaly; a coordinator-detected kind is raised once per job. Both are looked up in the stored
/// events before being raised, so a restart neither repeats nor loses one.
/// </summary>
public sealed class AnomalyWatcher
{
    private static readonly TimeSpan CheckEvery = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan UtilizationWindow = TimeSpan.FromSeconds(60);
    private readonly CoordinatorRuntime _runtime;
    private readonly AnomalyPolicy _defaults;
    private readonly Dictionary<string, DateTime> _lastChecked = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int> _evalsSeen = new(StringComparer.Ordinal);
    private long _cursor;

    public AnomalyWatcher(CoordinatorRuntime runtime)
    {
        _runtime = runtime;
        _defaults = runtime.Options.AnomalyPolicy is { } text ? AnomalyPolicy.ParseOption(text, "--anomaly-policy") : AnomalyPolicy.Empty;
        // Warnings stored before this start were handled by the previous run (their anomaly events say so).
        _cursor = JobEvents.LastId(runtime.Store);
    }

    /// <summary>The job's policy: its own <c>anomaly_policy</c> over the coordinator's default.</summary>
    public AnomalyPolicy PolicyOf(JobRow job)
    {
        var problems = new List<(string, string)>();
        var own = AnomalyPolicy.ParseJson((JsonNode.Parse(job.ResourcesJson) as JsonObject)?[JobPolicyKey], "$.anomaly_policy", problems);
        return own.Over(_defaults);
    }

    /// <summary>Where a submission's <c>anomaly_policy</c> is kept: in the job's stored resources object, under this key.</summary>
    public const string JobPolicyKey = "anomaly_policy";

    public void Tick()
    {
        HandleTrainerWarnings();
        var now = DateTime.UtcNow;
        var running = _runtime.Jobs.InState(JobStates.Running);
        foreach (var job in running)
        {
            if (_lastChecked.TryGetValue(job.Id, out var at) && now - at < CheckEvery) continue;
            _lastChecked[job.Id] = now;
            foreach (var anomaly in DetectFromStreams(job))
                Raise(job, anomaly, "coordinator");
        }
        foreach (var id in _lastChecked.Keys.Where(id => running.All(j => j.Id != id)).ToList())
        {
            _lastChecked.Remove(id);
            _evalsSeen.Remove(id);
        }
    }

    private void HandleTrainerWarnings()
    {
        var warnings = JobEvents.Since(_runtime.Store, _cursor, "warning", _runtime.Log);
        // Positions are handed out under the store's write lock, so nothing below the last warning seen can still arrive.
        if (warnings.Count > 0) _cursor = warnings[^1].Id;
        foreach (var e in warnings)
        {
            if (e.Body is not WarningEvent w || _runtime.Jobs.Get(e.JobId) is not { } job) continue;
            Raise(job, new Anomaly(w.Kind, w.Message, w.Step), "trainer");
        }
    }

    private IEnumerable<Anomaly> DetectFromStreams(JobRow job)
    {
        var lastStep = JobEvents.Latest<StepEvent>(_runtime.Store, job.Id)?.Step;
        if (job.GpuIndex is { } gpu)
        {
            var since = TelemetryTime.ToUnixMilliseconds(DateTimeOffset.UtcNow.Subtract(UtilizationWindow));
            var util = TelemetrySeries.Values(_runtime.Store, job.Id, gpu, "gpu.util", since);
            if (AnomalyDetector.InputBound(util, lastStep) is { } a) yield return a;
            var used = TelemetrySeries.Max(_runtime.Store, job.Id, gpu, "gpu.mem.used", since);
            var total = _runtime.Agents.List().FirstOrDefault(x => x.Id == job.AgentId)?.Inventory.Gpus.FirstOrDefault(x => x.Index == gpu)?.MemoryTotalBytes ?? 0;
            if (used is double u && AnomalyDetector.MemoryNearLimit(u, total, lastStep) is { } m) yield return m;
        }
        // The training losses are read only when a new evaluation came in (a long run has many step events).
        var evals = JobEvents.Read(_runtime.Store, job.Id, 0, "eval", int.MaxValue, _runtime.Log).Select(e => e.Body).OfType<EvalEvent>()
            .Select(e => (e.Step, e.EvalLoss)).ToList();
        var seen = _evalsSeen.GetValueOrDefault(job.Id);
        _evalsSeen[job.Id] = evals.Count;
        if (evals.Count > AnomalyDetector.OverfittingRisingEvals && evals.Count != seen)
        {
            // The detector compares the training loss from one evaluation interval before the first rising evaluation on.
            var first = evals[^(AnomalyDetector.OverfittingRisingEvals + 1)];
            var second = evals[^AnomalyDetector.OverfittingRisingEvals];
            var from = first.Step - Math.Max(1, second.Step - first.Step);
            var losses = JobEvents.Read(_runtime.Store, job.Id, 0, "step", int.MaxValue, _runtime.Log).Select(e => e.Body).OfType<StepEvent>()
                .Where(e => e.Step >= from).Select(e => (e.Step, e.Loss)).ToList();
            if (AnomalyDetector.Overfitting(evals, losses) is { } o)
                yield return o;
        }
    }

    private void Raise(JobRow job, Anomaly anomaly, string source)
    {
        if (AlreadyRaised(job.Id, anomaly, source)) return;
        var action = PolicyOf(job).ActionFor(anomaly.Kind);
        var applied = Apply(job, anomaly.Kind, action);
        _runtime.Jobs.AppendEvent(job.Id, new AnomalyRaised(anomaly.Kind, anomaly.Message, anomaly.Step, source, AnomalyPolicy.Name(action), applied),
            key: source == "coordinator" ? $"anomaly:{anomaly.Kind}" : $"anomaly:{anomaly.Kind}:{anomaly.Step}");
        _runtime.Log.LogWarning("job {Job}: anomaly {Kind} at step {Step} ({Source}); policy {Action}{Taken}: {Message}",
            job.Id, anomaly.Kind, anomaly.Step, source, AnomalyPolicy.Name(action), applied ? "" : " (not applicable now)", anomaly.Message);
    }

    /// <summary>A trainer warning is one anomaly per (kind, step); a coordinator-detected kind is raised once per job.</summary>
    private bool AlreadyRaised(string jobId, Anomaly anomaly, string source) =>
        JobEvents.Read(_runtime.Store, jobId, 0, JobEvents.Anomaly, int.MaxValue, _runtime.Log).Select(e => e.Body).OfType<AnomalyRaised>()
            .Any(a => a.Kind == anomaly.Kind && (source == "coordinator" || a.Step == anomaly.Step));

    /// <summary>Carries out the action; false when it does not apply in the job's state (or its agent is away).</summary>
    private bool Apply(JobRow job, string kind, AnomalyAction action)
    {
        if (action == AnomalyAction.Warn) return true;
        if (job.AgentId is not { } agent || job.State is not (JobStates.Running or JobStates.Paused)) return false;
        var (command, reason) = action switch
        {
            AnomalyAction.Pause => (CommandKind.Pause, FineTuneLab.Shared.Jobs.StopReasons.AnomalyPrefix + kind),
            AnomalyAction.Stop => (CommandKind.Stop, FineTuneLab.Shared.Jobs.StopReasons.AnomalyPrefix + kind),
            _ => (CommandKind.Stop, FineTuneLab.Shared.Jobs.StopReasons.FailPrefix + kind),
        };
        if (action == AnomalyAction.Pause && job.State != JobStates.Running) return false;
        if (!_runtime.Sessions.Send(agent, new CoordinatorMessage { Command = new JobCommand { JobId = job.Id, Kind = command, Reason = reason } })) return false;
        if (command == CommandKind.Stop) _runtime.Jobs.TryUserMove(job.Id, job.State, JobStates.Stopping, reason);
        return true;
    }
}
