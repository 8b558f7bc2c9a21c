using FineTuneLab.Shared.Jobs;

namespace FineTuneLab.Coordinator.Jobs;

/// <summary>
/// A fact about a job that <see cref="JobProjection.Apply"/> turns into the job's next state and the events it
/// appends. Facts carry everything the decision needs (e.g. the job's last uploaded checkpoint), so the projection
/// reads nothing itself.
/// </summary>
public abstract record JobFact;

/// <summary>The scheduler placed the queued job on an agent at the agent's price (frozen for this assignment).</summary>
public sealed record Placed(string AgentId, string? AgentName, int? GpuIndex, string? GpuName, long? GpuMemoryBytes, double PricePerHour) : JobFact;

/// <summary>
/// An agent's report about the job: the state it moved the job to (null: none), and the raw facts of a failure
/// (exit code, signal, the trainer's last error), with the uptime it has observed holding the job.
/// </summary>
public sealed record AgentReported(string AgentId, string? To, string? Reason, int ExitCode, int Signal, string ErrorMessage,
    string StackTrace, double UptimeS, DateTime At, CheckpointRow? LastCheckpoint) : JobFact;

/// <summary>An agent's heartbeat: the seconds it has held the job so far.</summary>
public sealed record UptimeReported(string AgentId, double UptimeS, DateTime At) : JobFact;

/// <summary>A trainer event of the job was stored: steps and checkpoints move its pace (<see cref="JobProjection.ObservePace"/>).</summary>
public sealed record TrainerReported(FineTuneLab.Events.TrainerEvent Event) : JobFact;

/// <summary>The agent holding the job was lost (missed heartbeats) or no longer runs it after a restart.</summary>
public sealed record AgentLost(string AgentId, string Why, CheckpointRow? LastCheckpoint) : JobFact;

/// <summary>
/// A move the user asked for (cancel a queued job, resume a stopped one, maybe with a raised budget), or the
/// coordinator's own order (<c>budget</c>, <c>anomaly:KIND</c>, <c>fail:KIND</c> as <paramref name="StopReason"/>).
/// </summary>
public sealed record Moved(string From, string To, string? StopReason, double? BudgetUsd = null, double? BudgetHours = null,
    CheckpointRow? LastCheckpoint = null) : JobFact;

/// <summary>The coordinator's rules for the projection: restarts allowed, and how failures are classified (the user's rules first).</summary>
public sealed record JobRules(int MaxRestarts, FailureClassifier Failures)
{
    public static JobRules Default { get; } = new(3, new FailureClassifier());
}

/// <summary>Uptime billed by a fact: <see cref="Seconds"/> more at <see cref="PricePerHour"/>, ending at <see cref="End"/>; the job's spend is then <see cref="SpentUsd"/>.</summary>
public sealed record Billing(string AgentId, string Project, double Seconds, double PricePerHour, double SpentUsd, DateTime End);

/// <summary>What an agent's <c>current_job_id</c> becomes.</summary>
public enum AgentLink { Keep, Hold, Release }

/// <summary>
/// The outcome of one fact: the job's next row, the events to append (in order), the billing, what the agent holds,
/// and for an agent's report the event its stored report becomes (<see cref="Report"/>).
/// </summary>
public sealed record Projected(JobRow Job, IReadOnlyList<JobEventBody> Events, Billing? Billed = null, AgentLink Agent = AgentLink.Keep,
    StateChanged? Report = null)
{
    /// <summary>Whether the row itself changed (the store writes it only then).</summary>
    public bool Moved { get; init; }
}
