using FineTuneLab.Events;
using FineTuneLab.Coordinator.AgentGateway;
using FineTuneLab.Shared.Protos;
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
    /// Turns each relayed typed message into the shared record once (<see cref="StoredEvent"/>). A message the contract
    /// cannot describe (no event set, a field out of range) is logged with the reason, naming agent, job and seq, and
    /// dropped; its seq still counts as persisted, since sending it again cannot fix it.
    /// </summary>
    public static IReadOnlyList<IncomingTrainerEvent> Parse(string agentId, AgentMessage m, ILogger log)
    {
        if (m.BodyCase != AgentMessage.BodyOneofCase.Telemetry || m.Telemetry.Events.Count == 0) return [];
        var typed = new List<IncomingTrainerEvent>(m.Telemetry.Events.Count);
        foreach (var e in m.Telemetry.Events)
        {
            try
            {
                var record = TrainerEventMessages.ToRecord(e);
                var (type, json) = StoredEvent.From(e);
                typed.Add(new IncomingTrainerEvent(e.Seq, e.JobId, e.At?.ToDateTime(), type, (long)e.TrainerSeq, record, json));
            }
            catch (Exception ex) when (ex is InvalidDataException or ArgumentException or InvalidOperationException or FormatException)
            {
                log.LogWarning("agent {Agent}: trainer event seq {Seq} of job {Job} refused: {Reason}", agentId, e.Seq, e.JobId, ex.Message);
            }
        }
        return typed;
    }
}
