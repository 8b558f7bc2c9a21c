using System.Globalization;
using System.Text.Json.Nodes;
using FineTuneLab.Coordinator.Jobs;
using FineTuneLab.Coordinator.Store;
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
        using var c = runtime.Store.OpenConnection();
        // Warnings stored before this start were handled by the previous run (their anomaly events say so).
        _cursor = Convert.ToInt64(Sql.Scalar(c, "SELECT COALESCE(MAX(ingest_id), 0) FROM events") ?? 0L);
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
        List<(long Id, string JobId, string Json)> warnings;
        using (var c = _runtime.Store.OpenConnection())
            warnings = Sql.Query(c, "SELECT ingest_id, job_id, json FROM events WHERE ingest_id > $c AND type = 'warning' ORDER BY ingest_id",
                r => (r.GetInt64(0), r.GetString(1), r.GetString(2)), ("$c", _cursor));
        // Ingest commits in ingest order, so nothing below the last warning seen can still arrive.
        if (warnings.Count > 0) _cursor = warnings[^1].Id;
        foreach (var (_, jobId, json) in warnings)
        {
            if (JsonNode.Parse(json) is not JsonObject w || w["kind"]?.GetValue<string>() is not { } kind) continue;
            if (_runtime.Jobs.Get(jobId) is not { } job) continue;
            long? step = w["step"] is JsonValue sv && sv.TryGetValue<long>(out var s) ? s : null;
            Raise(job, new Anomaly(kind, w["message"]?.GetValue<string>() ?? kind, step), "trainer");
        }
    }

    private IEnumerable<Anomaly> DetectFromStreams(JobRow job)
    {
        using var c = _runtime.Store.OpenConnection();
        var lastStep = JobEvents.Latest(_runtime.Store, job.Id, "step")?["step"] is JsonValue sv && sv.TryGetValue<long>(out var s) ? s : (long?)null;
        if (job.GpuIndex is { } gpu)
        {
            var since = TelemetryTime.ToUnixMilliseconds(DateTimeOffset.UtcNow.Subtract(UtilizationWindow));
            var util = Sql.Query(c, "SELECT value FROM telemetry WHERE job_id = $j AND gpu_index = $g AND metric = 'gpu.util' AND at >= $since",
                r => r.GetDouble(0), ("$j", job.Id), ("$g", gpu), ("$since", since));
            if (AnomalyDetector.InputBound(util, lastStep) is { } a) yield return a;
            var used = Sql.Scalar(c, "SELECT MAX(value) FROM telemetry WHERE job_id = $j AND gpu_index = $g AND metric = 'gpu.mem.used' AND at >= $since",
                ("$j", job.Id), ("$g", gpu), ("$since", since));
            var total = _runtime.Agents.List().FirstOrDefault(x => x.Id == job.AgentId)?.Inventory.Gpus.FirstOrDefault(x => x.Index == gpu)?.MemoryTotalBytes ?? 0;
            if (used is double u && AnomalyDetector.MemoryNearLimit(u, total, lastStep) is { } m) yield return m;
        }
        // The training losses are read only when a new evaluation came in (a long run has many step events).
        var evals = Series(c, job.Id, "eval", "eval_loss");
        var seen = _evalsSeen.GetValueOrDefault(job.Id);
        _evalsSeen[job.Id] = evals.Count;
        if (evals.Count > AnomalyDetector.OverfittingRisingEvals && evals.Count != seen)
        {
            // The detector compares the training loss from one evaluation interval before the first rising evaluation on.
            var first = evals[^(AnomalyDetector.OverfittingRisingEvals + 1)];
            var second = evals[^AnomalyDetector.OverfittingRisingEvals];
            if (AnomalyDetector.Overfitting(evals, Series(c, job.Id, "step", "loss", first.Step - Math.Max(1, second.Step - first.Step))) is { } o)
                yield return o;
        }
    }

    /// <summary>(step, value) of a job's events of one type, in ingest order; from step <paramref name="fromStep"/> on.</summary>
    private static List<(long Step, double Loss)> Series(Microsoft.Data.Sqlite.SqliteConnection c, string jobId, string type, string field, long fromStep = 0) =>
        Sql.Query(c, "SELECT json FROM events WHERE job_id = $j AND type = $t AND ($f <= 0 OR json_extract(json, '$.step') >= $f) ORDER BY ingest_id",
                r => r.GetString(0), ("$j", jobId), ("$t", type), ("$f", fromStep))
            .Select(json => JsonNode.Parse(json) as JsonObject)
            .Where(o => o?["step"] is JsonValue s && s.TryGetValue<long>(out var step) && step >= fromStep && o[field] is JsonValue v && v.TryGetValue<double>(out _))
            .Select(o => (o!["step"]!.GetValue<long>(), o[field]!.GetValue<double>()))
            .ToList();

    private void Raise(JobRow job, Anomaly anomaly, string source)
    {
        if (AlreadyRaised(job.Id, anomaly, source)) return;
        var action = PolicyOf(job).ActionFor(anomaly.Kind);
        var applied = Apply(job, anomaly.Kind, action);
        JobEvents.Append(_runtime.Store, _runtime.Ingest, job.Id, "anomaly", new JsonObject
        {
            ["kind"] = anomaly.Kind, ["message"] = anomaly.Message, ["step"] = anomaly.Step, ["detected_by"] = source,
            ["action"] = AnomalyPolicy.Name(action), ["action_taken"] = applied,
        }, key: source == "coordinator" ? $"anomaly:{anomaly.Kind}" : $"anomaly:{anomaly.Kind}:{anomaly.Step}");
        _runtime.Log.LogWarning("job {Job}: anomaly {Kind} at step {Step} ({Source}); policy {Action}{Taken}: {Message}",
            job.Id, anomaly.Kind, anomaly.Step, source, AnomalyPolicy.Name(action), applied ? "" : " (not applicable now)", anomaly.Message);
    }

    /// <summary>A trainer warning is one anomaly per (kind, step); a coordinator-detected kind is raised once per job.</summary>
    private bool AlreadyRaised(string jobId, Anomaly anomaly, string source)
    {
        using var c = _runtime.Store.OpenConnection();
        return Sql.Query(c, "SELECT json FROM events WHERE job_id = $j AND type = 'anomaly'", r => r.GetString(0), ("$j", jobId))
            .Select(json => JsonNode.Parse(json) as JsonObject)
            .Any(o => o?["kind"]?.GetValue<string>() == anomaly.Kind &&
                      (source == "coordinator" || (o["step"] is JsonValue v && v.TryGetValue<long>(out var s) ? s : (long?)null) == anomaly.Step));
    }

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
