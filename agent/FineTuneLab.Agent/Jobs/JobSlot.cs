using FineTuneLab.Agent.Artifacts;
using FineTuneLab.Agent.Session;
using FineTuneLab.Shared.Protos.Agent.V1;
using Microsoft.Extensions.Logging;

namespace FineTuneLab.Agent.Jobs;

/// <summary>
/// The node's one job slot: takes an assignment when free (refuses another while a job runs), hands commands to the
/// job they name once per command id, acks every persisted command, and stops the job when the agent shuts down.
/// </summary>
public sealed class JobSlot(AgentOptions options, Outgoing outgoing, ArtifactClient artifacts, ILogger log)
{
    private readonly Lock _gate = new();
    private JobRunner? _job;
    private Task? _jobTask;
    private ulong _lastCommandId;

    /// <summary>The job running now, if any.</summary>
    public JobRunner? Current { get { lock (_gate) return _job; } }

    public void Start(JobAssignment assignment, CancellationToken stoppingToken)
    {
        lock (_gate)
        {
            if (_job is not null)
            {
                if (_job.JobId != assignment.JobId)
                    log.LogWarning("assignment {Job} refused: {Running} is still running", assignment.JobId, _job.JobId);
                return;
            }
            log.LogInformation("assigned job {Job} at ${Price}/h", assignment.JobId, assignment.PricePerHourUsd);
            var runner = new JobRunner(assignment, options, outgoing, artifacts, log);
            _job = runner;
            _jobTask = Task.Run(async () =>
            {
                try { await runner.RunAsync(stoppingToken); }
                finally { lock (_gate) { _job = null; _jobTask = null; } }
            }, CancellationToken.None);
        }
    }

    /// <summary>
    /// Applies a command to the job it names if that job runs here, once per command id (the coordinator re-sends a
    /// command at each session start until it is acked), and acks every persisted command, applied or moot.
    /// </summary>
    public void Apply(JobCommand command)
    {
        lock (_gate)
        {
            var fresh = command.CommandId == 0 || command.CommandId > _lastCommandId;
            if (fresh && _job?.JobId == command.JobId) _job.Command(command);
            if (command.CommandId == 0) return;
            _lastCommandId = Math.Max(_lastCommandId, command.CommandId);
            outgoing.CommandAck(command);
        }
    }

    /// <summary>At agent shutdown: asks the running job to checkpoint and stop, and waits a while for it.</summary>
    public async Task StopAsync(TimeSpan wait)
    {
        JobRunner? running;
        Task? runningTask;
        lock (_gate) { running = _job; runningTask = _jobTask; }
        if (running is null || runningTask is null) return;
        running.Command(new JobCommand { JobId = running.JobId, Kind = CommandKind.Stop, Reason = "agent_shutdown" });
        await Task.WhenAny(runningTask, Task.Delay(wait, CancellationToken.None));
    }
}
