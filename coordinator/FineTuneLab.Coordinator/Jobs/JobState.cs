using FineTuneLab.Shared.Protos.Agent.V1;

namespace FineTuneLab.Coordinator.Jobs;

/// <summary>
/// The job state machine. queued → assigned → running ⇄ paused; running/paused → stopping → stopped; any active
/// state → succeeded / failed / stopped / cancelled (terminal, except that stopped and failed can be resumed, which
/// re-queues). A lost agent's assigned/running/paused/stopping job goes back to queued.
/// </summary>
public static class JobStates
{
    public const string Queued = "queued", Assigned = "assigned", Running = "running", Paused = "paused", Stopping = "stopping",
        Succeeded = "succeeded", Failed = "failed", Stopped = "stopped", Cancelled = "cancelled";

    public static readonly string[] All = [Queued, Assigned, Running, Paused, Stopping, Succeeded, Failed, Stopped, Cancelled];

    /// <summary>States in which an agent holds the job.</summary>
    public static bool OnAgent(string s) => s is Assigned or Running or Paused or Stopping;

    public static bool IsTerminal(string s) => s is Succeeded or Failed or Stopped or Cancelled;

    /// <summary>Whether an agent's report may move the job from <paramref name="from"/> to <paramref name="to"/>.</summary>
    public static bool AgentMayMove(string from, string to) => (from, to) switch
    {
        (Assigned or Running or Paused or Stopping, Running) => from != Stopping,
        (Running or Stopping, Paused) => from == Running,
        (Running or Paused, Stopping) => true,
        (Assigned or Running or Paused or Stopping, Succeeded or Failed or Stopped or Cancelled) => true,
        _ => false,
    };

    public static string FromProto(JobState s) => s switch
    {
        JobState.Queued => Queued,
        JobState.Assigned => Assigned,
        JobState.Running => Running,
        JobState.Paused => Paused,
        JobState.Stopping => Stopping,
        JobState.Succeeded => Succeeded,
        JobState.Failed => Failed,
        JobState.Stopped => Stopped,
        JobState.Cancelled => Cancelled,
        _ => throw new ArgumentOutOfRangeException(nameof(s), s, "unspecified job state"),
    };
}
