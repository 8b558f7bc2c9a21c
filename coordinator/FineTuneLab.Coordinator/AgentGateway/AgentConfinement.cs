using FineTuneLab.Coordinator.Jobs;

namespace FineTuneLab.Coordinator.AgentGateway;

/// <summary>What the store holds of a job that decides which agent may speak for it (<see cref="AgentConfinement"/>).</summary>
/// <param name="AgentId">The agent the job's row names (null once an agent's final report ended it, or while queued).</param>
/// <param name="LastAgentId">For an ended job whose row names no agent: the agent that last stored something for it.</param>
/// <param name="AdapterSha256">The adapter the job already has, if any.</param>
public sealed record JobHold(string State, string? AgentId, string? LastAgentId, string? AdapterSha256);

/// <summary>What an agent sends about a job, as the refusal counter names it.</summary>
public enum AgentAct { Event, Log, Telemetry, StateReport, Upload }

/// <summary>
/// The one decision of which agent may act on which job: an agent's trainer events, log lines, telemetry points,
/// state reports and artifact uploads are accepted only for a job it holds now (the job's row names it and the job is
/// assigned, running, paused or stopping), or — once the job ended — from the agent that held it last (its final
/// report, what it had buffered while cut off, the final adapter). Artifacts are immutable: a job keeps its first
/// adapter, a step keeps its first checkpoint. Pure: the store reads the <see cref="JobHold"/>, the gateway refuses.
/// Every answer is null (allowed) or the reason, naming the job and the agent.
/// </summary>
public static class AgentConfinement
{
    public static string? Refusal(string agentId, string jobId, JobHold? job, AgentAct act)
    {
        if (job is null) return $"job {jobId} does not exist (agent {agentId})";
        if (JobStates.OnAgent(job.State))
            return job.AgentId == agentId ? null : $"job {jobId} is held by {job.AgentId ?? "no agent"}, not by agent {agentId}";
        if (JobStates.IsTerminal(job.State))
            return (job.AgentId ?? job.LastAgentId) == agentId ? null
                : $"job {jobId} is {job.State} and agent {agentId} was not the agent that ran it";
        return $"job {jobId} is {job.State}: no agent holds it (agent {agentId})";
    }

    /// <summary>
    /// An upload for a job: allowed as <see cref="Refusal"/> says, and then only what the job's state admits. An
    /// ended job takes no new kinds of artifact: a succeeded one its adapter and files (the GGUF package), a stopped,
    /// failed or cancelled one the checkpoint its stop wrote; a second adapter, or a checkpoint for a step that already
    /// has one with another SHA-256, is refused whatever the state (the same bytes again change nothing).
    /// </summary>
    /// <param name="checkpointStep">The step of a <c>checkpoint-N.tar</c> upload, null for other names.</param>
    /// <param name="checkpointAtStep">The SHA-256 the job already has for that step, if any.</param>
    public static string? UploadRefusal(string agentId, string jobId, JobHold? job, string kind, string sha256, long? checkpointStep, string? checkpointAtStep)
    {
        if (Refusal(agentId, jobId, job, AgentAct.Upload) is { } refused) return refused;
        var ended = JobStates.IsTerminal(job!.State);
        if (kind == "adapter")
        {
            if (job.AdapterSha256 is { } have && have != sha256)
                return $"job {jobId} already has adapter {have}: a job's artifacts are immutable (agent {agentId})";
            return ended && job.State != JobStates.Succeeded ? $"job {jobId} is {job.State}: no adapter is taken for it (agent {agentId})" : null;
        }
        if (kind == "checkpoint")
        {
            if (checkpointStep is { } step && checkpointAtStep is { } have && have != sha256)
                return $"job {jobId} already has checkpoint {have} for step {step}: a job's artifacts are immutable (agent {agentId})";
            return job.State == JobStates.Succeeded ? $"job {jobId} is succeeded: no checkpoint is taken for it (agent {agentId})" : null;
        }
        return ended && job.State != JobStates.Succeeded ? $"job {jobId} is {job.State}: no {kind} artifact is taken for it (agent {agentId})" : null;
    }

    /// <summary>
    /// Registration with an agent id the store knows: the agent that proves it is that agent (it sends the id's current
    /// token, <c>x-ftl-agent-token</c>) gets it back whatever its state; the join token alone cannot claim the id of an
    /// agent whose session is open now (it would speak for it), but does get an offline or lost agent's id back (how an
    /// agent whose identity file predates kept tokens returns; per-agent credentials will close that).
    /// </summary>
    public static string? ReRegistrationRefusal(string agentId, bool known, bool connected, bool proven) =>
        known && connected && !proven ? $"agent {agentId} is connected now: its id cannot be registered again without its own token (x-ftl-agent-token)" : null;
}
