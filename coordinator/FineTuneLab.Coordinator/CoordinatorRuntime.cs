using System.Globalization;
using System.Text.RegularExpressions;
using FineTuneLab.Coordinator.AgentGateway;
using FineTuneLab.Coordinator.Blobs;
using FineTuneLab.Coordinator.Jobs;
using FineTuneLab.Coordinator.Store;
using FineTuneLab.Shared.Protos.Agent.V1;
using Microsoft.Extensions.Logging;

namespace FineTuneLab.Coordinator;

/// <summary>
/// Everything that exists once the store is open: tables, blobs, connected sessions, and the scheduler's wake-up
/// signal. The host's container builds it when the store opens and registers each part as a service of its own.
/// </summary>
public sealed partial class CoordinatorRuntime : IDisposable
{
    private readonly SemaphoreSlim _wake = new(0, 1);

    public CoordinatorRuntime(CoordinatorStore store, CoordinatorOptions options, ILogger log)
    {
        (Store, Options, Log) = (store, options, log);
        Blobs = new(options.DataDir);
        Agents = new(store);
        Rules = new(options.RestartCap, new(options.FailureRulesFile is { } rules ? FineTuneLab.Shared.Jobs.FailureClassifier.LoadRules(rules) : null));
        Refusals = new(log);
        Ingest = new(store, Rules, Feed, Refusals);
        Jobs = new(store, Ingest, Feed) { Rules = Rules };
        Commands = new(store, Sessions);
    }

    public CoordinatorStore Store { get; }
    public CoordinatorOptions Options { get; }
    public BlobStore Blobs { get; }
    public AgentStore Agents { get; }
    /// <summary>The jobs' live feeds: what each commit appended, for the SSE streams.</summary>
    public JobFeedHub Feed { get; } = new();
    /// <summary>Restarts allowed and how failures are classified: the user's rules (<c>--failure-rules</c>) before the built-in table.</summary>
    public JobRules Rules { get; }
    /// <summary>What agents sent for jobs they may not act on (<see cref="AgentConfinement"/>), counted for <c>/metrics</c>.</summary>
    public AgentRefusals Refusals { get; }
    public TelemetryIngest Ingest { get; }
    // Job transitions write their events into the feed whose order the ingest keeps.
    public JobStore Jobs { get; }
    public AgentSessions Sessions { get; } = new();
    public AgentCommands Commands { get; }
    public ILogger Log { get; }

    /// <summary>Asks the scheduler loop to run now (a job was queued, an agent came or a job ended).</summary>
    public void Wake()
    {
        try { _wake.Release(); } catch (SemaphoreFullException) { }
    }

    public Task WaitForWakeAsync(TimeSpan max, CancellationToken cancellationToken) => _wake.WaitAsync(max, cancellationToken);

    /// <summary>Stores what the ingest still holds and closes its writer (the store is disposed after this).</summary>
    public void Dispose() => Ingest.Dispose();

    public void RecordArtifact(string sha, string? jobId, string name, string kind, long size)
    {
        ArtifactRows.Record(Store, sha, jobId, name, kind, size);
        if (jobId is null) return;
        if (kind == "checkpoint" && CheckpointName().Match(name) is { Success: true } m)
            Jobs.RecordCheckpoint(jobId, long.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture), sha, size);
        else if (kind == "adapter")
            Jobs.RecordAdapter(jobId, sha);
    }

    /// <summary>
    /// Why an agent's upload for a job is refused (<see cref="AgentConfinement.UploadRefusal"/>), counted and logged
    /// once; null when it may go on. Asked when the upload begins and again just before it is recorded.
    /// </summary>
    public string? UploadRefusal(string agentId, string jobId, string name, string kind, string sha)
    {
        long? step = kind == "checkpoint" && CheckpointName().Match(name) is { Success: true } m ? long.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture) : null;
        string? reason;
        using (var c = Store.OpenConnection())
            reason = AgentConfinement.UploadRefusal(agentId, jobId, JobHolds.Read(c, jobId), kind, sha, step, step is { } s ? JobHolds.CheckpointAt(c, jobId, s) : null);
        if (reason is not null) Refusals.Refused(agentId, jobId, AgentAct.Upload, reason);
        return reason;
    }

    [GeneratedRegex(@"^checkpoint-(\d+)\.tar$")]
    private static partial Regex CheckpointName();

    /// <summary>
    /// After an agent (re)connects: an assignment it never received is sent again, a job the store has on it but the
    /// agent no longer runs (it restarted) is re-queued, and a job it runs that is no longer its own is cancelled.
    /// </summary>
    public void Reconcile(string agentId, IReadOnlyCollection<string> running)
    {
        var mine = Jobs.InState(JobStates.Assigned, JobStates.Running, JobStates.Paused, JobStates.Stopping).Where(j => j.AgentId == agentId).ToList();
        foreach (var job in mine.Where(j => !running.Contains(j.Id)))
        {
            if (job.State == JobStates.Assigned)
                Sessions.Send(agentId, new CoordinatorMessage { Assign = AssignmentBuilder.Build(Store, job) });
            else
            {
                Log.LogWarning("agent {Agent} no longer runs {Job}: re-queued", agentId, job.Id);
                Jobs.RequeueJobsOf(agentId, $"agent {agentId} restarted and no longer runs the job");
                Wake();
            }
        }
        foreach (var id in running.Where(id => mine.All(j => j.Id != id)))
            Sessions.Send(agentId, new CoordinatorMessage { Command = new JobCommand { JobId = id, Kind = CommandKind.Cancel, Reason = "not assigned to this agent" } });
    }
}
