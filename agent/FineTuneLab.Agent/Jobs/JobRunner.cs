using FineTuneLab.Agent.Artifacts;
using FineTuneLab.Agent.Session;
using FineTuneLab.Events;
using FineTuneLab.Shared.Jobs;
using FineTuneLab.Shared.Protos;
using FineTuneLab.Shared.Protos.Agent.V1;
using CheckpointEvent = FineTuneLab.Events.CheckpointEvent;
using StepEvent = FineTuneLab.Events.StepEvent;
using TrainerEvent = FineTuneLab.Events.TrainerEvent;
using Microsoft.Extensions.Logging;
using LogLevel = FineTuneLab.Shared.Protos.Agent.V1.LogLevel;

namespace FineTuneLab.Agent.Jobs;

/// <summary>
/// Runs one assigned job in <c>DATA/jobs/&lt;id&gt;/</c>: artifacts (<see cref="JobWorkspace"/>) → the trainer process
/// → relay of its events and logs to the outbox, with each checkpoint handed to the <see cref="CheckpointUploader"/>,
/// the spend watched by <see cref="JobSpend"/>, stop/pause/resume/cancel obeyed, and how it ended reported.
/// </summary>
public sealed class JobRunner(JobAssignment assignment, AgentOptions options, Outgoing outgoing, ArtifactClient artifacts, ILogger log)
{
    private static readonly TimeSpan StopGrace = TimeSpan.FromMinutes(2);
    private static readonly TimeSpan BudgetCheckInterval = TimeSpan.FromMilliseconds(250);
    private readonly JobSpend _spend = new(assignment);
    private CheckpointUploader? _uploader;
    private TrainerProcess? _trainer;
    private string? _stopReason;
    private bool _cancelled;

    public string JobId => assignment.JobId;
    public double UptimeSeconds => _spend.UptimeSeconds;
    public int? TrainerPid => _trainer?.Pid;

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        _spend.Start();
        var dir = Path.Combine(options.JobsDir, assignment.JobId);
        var outDir = Path.Combine(dir, "out");
        Directory.CreateDirectory(outDir);
        try
        {
            var (configPath, resume) = await JobWorkspace.PrepareAsync(assignment, dir, options.Device, artifacts, cancellationToken);
            if (_cancelled) { Report(JobState.Cancelled, "cancelled"); return; }
            var args = new List<string>(options.TrainerCommand.Skip(1)) { "train", "--config", configPath, "--out", outDir };
            if (resume is not null) args.AddRange(["--resume", resume]);
            // Our stdin pipe closes when we die: the trainer then checkpoints and stops rather than run on as an orphan.
            args.Add("--stop-at-end-of-input");
            log.LogInformation("job {Job}: starting {Command} {Args}", JobId, options.TrainerCommand[0], string.Join(' ', args));
            _uploader = new CheckpointUploader(JobId, outDir, artifacts, outgoing);
            _trainer = TrainerProcess.Start(new TrainerProcess.StartInfo(options.TrainerCommand[0], args, dir), OnEventAsync, OnLogAsync, OnRefusedAsync);
            Report(JobState.Running, "started");
            var uploads = _uploader.RunAsync(cancellationToken);
            using var trainerDone = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            var budgetWatch = WatchBudgetAsync(trainerDone.Token);
            var exit = await _trainer.WaitAsync(cancellationToken);
            // The node is billed while the trainer holds it; uploads after its exit (which may wait for the network) are not.
            _spend.Stop();
            await trainerDone.CancelAsync();
            await budgetWatch;
            _uploader.Complete();
            await uploads;
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

    // Each event arrives parsed (the trainer process's edge) and goes out typed, as the trainer wrote it: the agent adds
    // no cost (the coordinator's projection is the one cost); its own spend only feeds the offline budget guard.
    private Task OnEventAsync(TrainerEvent e)
    {
        var message = TrainerEventMessages.ToMessage(e);
        switch (e)
        {
            case StepEvent step:
                _spend.ObserveStep(step);
                break;
            case CheckpointEvent checkpoint:
                _spend.ObserveCheckpoint(checkpoint);
                _uploader?.Announce(checkpoint.Step, checkpoint.Path);
                break;
        }
        outgoing.Event(JobId, message);
        if (e is StepEvent) CheckBudget();
        return Task.CompletedTask;
    }

    private Task OnRefusedAsync(string line, string reason)
    {
        var shown = line.Length > 200 ? line[..200] + "…" : line;
        outgoing.Log(JobId, LogLevel.Warning, "agent", $"trainer event refused ({_trainer?.RefusedLines ?? 1} so far): {reason}: {shown}");
        return Task.CompletedTask;
    }

    private Task OnLogAsync(string line, bool stderr)
    {
        outgoing.Log(JobId, LogLevel.Info, stderr ? "trainer.stderr" : "trainer.stdout", line);
        return Task.CompletedTask;
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
        if (_stopReason is not null || _spend.MustStop() is not { } why) return;
        log.LogWarning("job {Job}: the budget would be crossed before the next step and a checkpoint end: checkpoint and stop ({Why})", JobId, why);
        outgoing.Log(JobId, LogLevel.Warning, "agent", why);
        RequestStop(StopReasons.Budget);
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
            // "export": {"gguf": ...} in the spec: the merged GGUF and its Ollama Modelfile go into the training package
            var gguf = Path.Combine(outDir, "gguf");
            if (Directory.Exists(gguf))
            {
                var tar = Path.Combine(Path.GetDirectoryName(outDir)!, "gguf.tar");
                await TarFolder.CreateAsync(gguf, tar, cancellationToken);
                await artifacts.UploadAsync(tar, $"{JobId}-gguf", JobId, "gguf.tar", "file", cancellationToken);
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
