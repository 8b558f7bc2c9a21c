using FineTuneLab.Events;
using FineTuneLab.Shared.Protos.Agent.V1;
using TrainerEvent = FineTuneLab.Events.TrainerEvent;
using Microsoft.Extensions.Logging;

namespace FineTuneLab.Coordinator.Jobs;

/// <summary>
/// A trainer event an agent relayed, typed at the gateway's edge: <see cref="Body"/> is the shared record, or an
/// <see cref="UntypedEvent"/> saying why EventJson refused it; <see cref="Json"/> is the line as relayed.
/// </summary>
public sealed record IncomingTrainerEvent(ulong Seq, string JobId, DateTime? At, string Type, long TrainerSeq, object Body, string Json)
{
    /// <summary>A typed event (the typed protobuf message, once agents send it): stored in EventJson's form.</summary>
    public static IncomingTrainerEvent Of(ulong seq, string jobId, DateTime? at, TrainerEvent e) =>
        new(seq, jobId, at, EventJson.TypeName(e), e.Seq, e, EventJson.Serialize(e));
}

/// <summary>
/// An event the agent relayed that the event contract does not describe (an unknown type, a missing or mistyped
/// field): kept in the job's log as relayed, so feeds and the dashboard show it, but no decision reads it.
/// </summary>
public sealed record UntypedEvent(string Reason);

/// <summary>The gateway edge's one parse of the trainer events in an agent's message.</summary>
public static class IncomingEvents
{
    /// <summary>
    /// Parses each relayed event once with <see cref="EventJson"/>. One it refuses is logged with the reason (naming
    /// agent, job and seq) and kept untyped (<see cref="UntypedEvent"/>); one that is not even a JSON object is dropped
    /// (its seq still counts as persisted, since sending it again cannot fix it).
    /// </summary>
    public static IReadOnlyList<IncomingTrainerEvent> Parse(string agentId, AgentMessage m, ILogger log)
    {
        if (m.BodyCase != AgentMessage.BodyOneofCase.Telemetry || m.Telemetry.Events.Count == 0) return [];
        var typed = new List<IncomingTrainerEvent>(m.Telemetry.Events.Count);
        foreach (var e in m.Telemetry.Events)
        {
            var body = JobEvents.TypeTrainerEvent(e.Type, e.Json, out var reason);
            if (body is UntypedEvent || body is null)
                log.LogWarning("agent {Agent}: trainer event seq {Seq} ({Type}) of job {Job} {Fate}: {Reason}", agentId, e.Seq, e.Type, e.JobId,
                    body is null ? "refused" : "kept untyped", reason);
            if (body is not null) typed.Add(new IncomingTrainerEvent(e.Seq, e.JobId, e.At?.ToDateTime(), e.Type, (long)e.TrainerSeq, body, e.Json));
        }
        return typed;
    }
}
