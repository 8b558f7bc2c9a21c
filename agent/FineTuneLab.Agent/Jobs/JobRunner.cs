using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Threading.Channels;
using FineTuneLab.Agent.Artifacts;
using FineTuneLab.Agent.Session;
using FineTuneLab.Shared.Costs;
using FineTuneLab.Shared.Jobs;
using FineTuneLab.Shared.Protos.Agent.V1;
using Microsoft.Extensions.Logging;
using Budget = FineTuneLab.Shared.Costs.Budget;
using LogLevel = FineTuneLab.Shared.Protos.Agent.V1.LogLevel;

namespace FineTuneLab.Agent.Jobs;

/// <summary>
/// Runs one assigned job in <c>DATA/jobs/&lt;id&gt;/</c>: fetches its artifacts, rewrites <c>artifact:</c> paths, starts
/// the trainer, relays its events and logs, uploads each checkpoint as soon as it is announced and the adapter at the
/// end, obeys stop/pause/resume/cancel, stops the run itself before the budget would be crossed, and reports how it ended.
/// </summary>
public sealed class JobRunner(JobAssignment assignment, AgentOptions options, Outgoing outgoing, ArtifactClient artifacts, ILogger log)
{
    private static readonly TimeSpan StopGrace = TimeSpan.FromMinutes(2);
    private static readonly TimeSpan BudgetCheckInterval = TimeSpan.FromMilliseconds(250);
    /// <summary>A failed checkpoint upload is retried (the coordinator may be unreachable) until a newer one supersedes it.</summary>
    private static readonly TimeSpan UploadRetryMax = TimeSpan.FromSeconds(5);
    private readonly Stopwatch _uptime = new();
    private readonly Channel<(long Step, string Path)> _checkpoints = Channel.CreateUnbounded<(long, string)>();
    private TrainerProcess? _trainer;
    private string? _stopReason;
    private bool _cancelled;
    private DateTime? _lastStepAt;
    private double _maxStepSeconds;
    private double? _checkpointSeconds;
    private long _lastStep;
    private long _totalSteps;
    private double? _meanStepSeconds;

    public string JobId => assignment.JobId;
    public double UptimeSeconds => _uptime.Elapsed.TotalSeconds;
    public int? TrainerPid => _trainer?.Pid;

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        _uptime.Start();
        var dir = Path.Combine(options.JobsDir, assignment.JobId);
        var outDir = Path.Combine(dir, "out");
        Directory.CreateDirectory(outDir);
        try
        {
            var (configPath, resume) = await PrepareAsync(dir, cancellationToken);
            if (_cancelled) { Report(JobState.Cancelled, "cancelled"); return; }
            var args = new List<string>(options.TrainerCommand.Skip(1)) { "train", "--config", configPath, "--out", outDir };
            if (resume is not null) args.AddRange(["--resume", resume]);
            log.LogInformation("job {Job}: starting {Command} {Args}", JobId, options.TrainerCommand[0], string.Join(' ', args));
            _trainer = TrainerProcess.Start(new TrainerProcess.StartInfo(options.TrainerCommand[0], args, dir), OnEventAsync, OnLogAsync);
            Report(JobState.Running, "started");
            var uploader = UploadCheckpointsAsync(outDir, cancellationToken);
            using var trainerDone = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            var budgetWatch = WatchBudgetAsync(trainerDone.Token);
            var exit = await _trainer.WaitAsync(cancellationToken);
            // The node is billed while the trainer holds it; uploads after its exit (which may wait for the network) are not.
            _uptime.Stop();
            await trainerDone.CancelAsync();
            await budgetWatch;
            _checkpoints.Writer.TryComplete();
            await uploader;
            await FinishAsync(exit, outDir, cancellationToken);
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            log.LogError(e, "job {Job} failed on the agent", JobId);
            outgoing.Log(JobId, LogLevel.Error, "agent", $"{e.GetType().Name}: {e.Message}");
            var cls = new FailureClassifier().Classify(1, 0, e.Message, e.ToString());
            Report(JobState.Failed, cls.Class, exitCode: 1, error: e.Message, stack: e.ToString());
        }
        finally
        {
            if (_trainer is not null) await _trainer.DisposeAsync();
        }
    }

    public void Command(JobCommand command)
    {
        switch (command.Kind)
        {
            case CommandKind.Stop:
                RequestStop(string.IsNullOrEmpty(command.Reason) ? "user" : command.Reason);
                break;
            case CommandKind.Pause when _trainer is not null && _stopReason is null:
                // A paused trainer still holds the node: its uptime (and cost) goes on, and the budget watch stops it if need be.
                if (_trainer.Pause()) Report(JobState.Paused, string.IsNullOrEmpty(command.Reason) ? "user" : command.Reason);
                break;
            case CommandKind.Resume when _trainer is not null && _stopReason is null:
                if (_trainer.Resume()) Report(JobState.Running, "resumed");
                break;
            case CommandKind.Cancel:
                _cancelled = true;
                _trainer?.Kill();
                break;
        }
    }

    private void RequestStop(string reason)
    {
        if (_stopReason is not null || _trainer is null) return;
        _stopReason = reason;
        Report(JobState.Stopping, reason);
        _ = _trainer.StopAsync(StopGrace);
    }

    private async Task<(string Config, string? Resume)> PrepareAsync(string dir, CancellationToken cancellationToken)
    {
        var local = new Dictionary<string, string>(StringComparer.Ordinal);
        string? resume = null;
        foreach (var a in assignment.Artifacts)
        {
            var file = await artifacts.FetchAsync(a.Sha256, cancellationToken);
            var path = file;
            if (a.Name.EndsWith(".tar", StringComparison.Ordinal))
            {
                path = file + ".d";
                await TarFolder.ExtractAsync(file, path, cancellationToken);
            }
            if (a.Sha256 == assignment.ResumeCheckpoint) resume = path;
            local[a.Sha256] = path;
        }
        var spec = JsonNode.Parse(assignment.SpecJson, documentOptions: new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true })!;
        spec = Rewrite(spec, local);
        if (options.Device != "auto" && spec is JsonObject o) o["device"] = options.Device;
        var config = Path.Combine(dir, "job.json");
        await File.WriteAllTextAsync(config + ".tmp", spec.ToJsonString(new JsonSerializerOptions { WriteIndented = true }), cancellationToken);
        File.Move(config + ".tmp", config, overwrite: true);
        return (config, resume);
    }

    private static JsonNode Rewrite(JsonNode node, IReadOnlyDictionary<string, string> local) => node switch
    {
        JsonObject o => new JsonObject(o.Select(kv => KeyValuePair.Create(kv.Key, kv.Value is null ? null : Rewrite(kv.Value, local)))),
        JsonArray a => new JsonArray(a.Select(v => v is null ? null : Rewrite(v, local)).ToArray()),
        JsonValue v when v.TryGetValue<string>(out var s) && s.StartsWith("artifact:", StringComparison.Ordinal) =>
            JsonValue.Create(local.TryGetValue(s["artifact:".Length..], out var p) ? p : throw new InvalidDataException($"spec refers to {s}, which the assignment does not carry")),
        _ => node.DeepClone(),
    };

    private Task OnEventAsync(TrainerEventLine e)
    {
        if (e.Type == "step") ObserveStep(e);
        outgoing.Event(JobId, e.Seq, e.Type, e.Type == "step" ? WithCost(e) : e.Json);
        switch (e.Type)
        {
            case "checkpoint" when e.GetString("path") is { } path && e.GetDouble("step") is { } step:
                ObserveCheckpoint(e);
                _checkpoints.Writer.TryWrite(((long)step, path));
                break;
            case "step":
                CheckBudget();
                break;
        }
        return Task.CompletedTask;
    }

    private void ObserveStep(TrainerEventLine e)
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
        _lastStep = e.GetDouble("step") is { } s ? (long)s : _lastStep;
        _totalSteps = e.GetDouble("total_steps") is { } t ? (long)t : _totalSteps;
    }

    /// <summary>
    /// The step event as relayed: the trainer's own fields plus <c>cost</c> {spent_usd, hours_used, rate_usd_per_hour,
    /// projected_usd, budget_fraction} from this agent's clock and the price frozen on the assignment, so whoever reads
    /// the event stream (the dashboard, <c>/api/jobs/{id}/events</c>) sees the spend at that step without asking.
    /// </summary>
    private string WithCost(TrainerEventLine e)
    {
        if (JsonNode.Parse(e.Json) is not JsonObject o) return e.Json;
        var cost = CostNow();
        double? projected = _meanStepSeconds is { } pace && _totalSteps >= _lastStep
            ? cost.SpentUsd + cost.RateUsdPerHour * (_totalSteps - _lastStep) * pace / 3600.0
            : null;
        o["cost"] = new JsonObject
        {
            ["spent_usd"] = Math.Round(cost.SpentUsd, 6), ["hours_used"] = Math.Round(cost.HoursUsed, 6), ["rate_usd_per_hour"] = cost.RateUsdPerHour,
            ["projected_usd"] = projected is { } p ? Math.Round(p, 6) : null,
            ["budget_fraction"] = cost.FractionOfBudget is { } f ? Math.Round(f, 6) : null,
        };
        return o.ToJsonString();
    }

    /// <summary>The job's spend on this agent's clock: earlier assignments plus this one's uptime at its frozen price.</summary>
    private JobCost CostNow() =>
        JobCost.Compute(assignment.SpentUsdBefore, assignment.HoursBefore, assignment.PricePerHourUsd, UptimeSeconds, JobBudget());

    private Budget JobBudget() =>
        new(assignment.Budget?.MaxUsd is > 0 ? assignment.Budget.MaxUsd : null, assignment.Budget?.MaxHours is > 0 ? assignment.Budget.MaxHours : null);

    private void ObserveCheckpoint(TrainerEventLine e)
    {
        // A checkpoint is written right after its step's event: the gap is how long writing one takes.
        if (_lastStepAt is { } at && e.GetDouble("step") is { } step && (long)step == _lastStep)
            _checkpointSeconds = (DateTime.UtcNow - at).TotalSeconds;
    }

    /// <summary>Checks the budget between steps too: during a long first step, an evaluation or a pause the spend goes on.</summary>
    private async Task WatchBudgetAsync(CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(BudgetCheckInterval);
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken)) CheckBudget();
        }
        catch (OperationCanceledException) { }
    }

    private void CheckBudget()
    {
        if (_stopReason is not null) return;
        var budget = JobBudget();
        if (!budget.IsLimited) return;
        var cost = CostNow();
        // Until a checkpoint was measured, assume it takes as long as a step (at least a second).
        var checkpointSeconds = _checkpointSeconds ?? Math.Max(1.0, _maxStepSeconds);
        if (BudgetGuard.MustStop(budget, cost.SpentUsd, cost.HoursUsed, cost.RateUsdPerHour, _maxStepSeconds, checkpointSeconds))
        {
            log.LogWarning("job {Job}: the budget would be crossed before the next step and a checkpoint end (spent ${Spent:0.####} of ${Max}): checkpoint and stop",
                JobId, cost.SpentUsd, budget.MaxUsd);
            outgoing.Log(JobId, LogLevel.Warning, "agent", $"budget: stopping before spend would cross it (step {_lastStep}, uptime {UptimeSeconds:0.0} s, step {_maxStepSeconds:0.00} s, checkpoint {checkpointSeconds:0.00} s)");
            RequestStop(StopReasons.Budget);
        }
    }

    private Task OnLogAsync(string line, bool stderr)
    {
        outgoing.Log(JobId, LogLevel.Info, stderr ? "trainer.stderr" : "trainer.stdout", line);
        return Task.CompletedTask;
    }

    private async Task UploadCheckpointsAsync(string outDir, CancellationToken cancellationToken)
    {
        await foreach (var (step, announced) in _checkpoints.Reader.ReadAllAsync(cancellationToken))
        {
            var wait = TimeSpan.FromMilliseconds(250);
            for (var attempt = 1; ; attempt++)
            {
                try
                {
                    var folder = Path.IsPathRooted(announced) ? announced : Path.Combine(outDir, announced);
                    var tar = Path.Combine(Path.GetDirectoryName(outDir)!, $"checkpoint-{step}.tar");
                    if (attempt == 1 || !File.Exists(tar)) await TarFolder.CreateAsync(folder, tar, cancellationToken);
                    var sha = await artifacts.UploadAsync(tar, $"{JobId}-checkpoint-{step}", JobId, $"checkpoint-{step}.tar", "checkpoint", cancellationToken);
                    File.Delete(tar);
                    outgoing.Log(JobId, LogLevel.Info, "agent", $"checkpoint {step} uploaded (sha256 {sha})");
                    break;
                }
                catch (Exception e) when (e is IOException or InvalidDataException or FineTuneLab.Shared.Grpc.RpcException or UnauthorizedAccessException)
                {
                    if (attempt == 1) outgoing.Log(JobId, LogLevel.Warning, "agent", $"checkpoint {step} upload failed: {e.Message}; retrying until it is uploaded or a newer one supersedes it");
                    // A newer checkpoint supersedes this one; the last one (the one a stop wrote) is retried until the
                    // coordinator is back, so a resume finds it.
                    if (_checkpoints.Reader.Count > 0 || e is DirectoryNotFoundException) break;
                    await Task.Delay(wait, cancellationToken);
                    wait = TimeSpan.FromTicks(Math.Min(wait.Ticks * 2, UploadRetryMax.Ticks));
                }
            }
        }
    }

    private async Task FinishAsync(TrainerExit exit, string outDir, CancellationToken cancellationToken)
    {
        if (_cancelled) { Report(JobState.Cancelled, "cancelled", exit.ExitCode, exit.Signal); return; }
        if (exit.Succeeded)
        {
            var adapter = Path.Combine(outDir, "adapter");
            if (Directory.Exists(adapter))
            {
                var tar = Path.Combine(Path.GetDirectoryName(outDir)!, "adapter.tar");
                await TarFolder.CreateAsync(adapter, tar, cancellationToken);
                await artifacts.UploadAsync(tar, $"{JobId}-adapter", JobId, "adapter.tar", "adapter", cancellationToken);
            }
            Report(JobState.Succeeded, "completed", 0, 0);
            return;
        }
        if (exit is { ExitCode: 0, Signal: 0, DoneReason: "stopped" })
        {
            if (_stopReason?.StartsWith(StopReasons.FailPrefix, StringComparison.Ordinal) == true)
            {
                var why = _stopReason[StopReasons.FailPrefix.Length..];
                Report(JobState.Failed, why, 0, 0, $"failed by policy: {why}");
                return;
            }
            Report(JobState.Stopped, _stopReason ?? "stopped", 0, 0);
            return;
        }
        var cls = new FailureClassifier().Classify(exit.ExitCode, exit.Signal, exit.ErrorMessage, exit.StackTrace);
        Report(JobState.Failed, cls.Class, exit.ExitCode, exit.Signal, exit.ErrorMessage, exit.StackTrace);
    }

    private void Report(JobState state, string reason, int exitCode = 0, int signal = 0, string? error = null, string? stack = null) =>
        outgoing.State(new JobStateChange
        {
            JobId = JobId, State = state, Reason = reason, ExitCode = exitCode, Signal = signal,
            ErrorMessage = error ?? "", StackTrace = stack ?? "", JobUptimeS = UptimeSeconds,
        });
}
