using FineTuneLab.Events;
using FineTuneLab.Coordinator.AgentGateway;
using FineTuneLab.Shared.Protos;
using FineTuneLab.Shared.Protos.Agent.V1;
using TrainerEvent = FineTuneLab.Events.TrainerEvent;
using Microsoft.Extensions.Logging;

namespace FineTuneLab.Coordinator.Jobs;

/// <summary>
/// A trainer event an agent relayed, typed at the gateway's edge: <see cref="Body"/> is the shared record,
/// <see cref="Json"/> the row the events table keeps (the contract's JSON, <see cref="EventJson.Serialize"/>).
/// </summary>
public sealed record IncomingTrainerEvent(ulong Seq, string JobId, DateTime? At, string Type, long TrainerSeq, TrainerEvent Body, string Json);

/// <summary>
/// A stored event row the event contract does not describe (one relayed before agents sent typed messages: an unknown
/// type, a missing or mistyped field), as <see cref="JobEvents"/> reads it back: feeds show it, no decision reads it.
/// </summary>
public sealed record UntypedEvent(string Reason);

/// <summary>The gateway edge's one parse of the trainer events in an agent's message.</summary>
public static class IncomingEvents
{
    /// <summary>
    /// Turns each relayed typed message into the shared record once. A message the contract
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
                // Stored as the contract's JSON, which EventJson writes (the agent adds nothing to the trainer's event).
                typed.Add(new IncomingTrainerEvent(e.Seq, e.JobId, e.At?.ToDateTime(), EventJson.TypeName(record), (long)e.TrainerSeq, record,
                    EventJson.Serialize(record)));
            }
            catch (Exception ex) when (ex is InvalidDataException or ArgumentException or InvalidOperationException or FormatException)
            {
                log.LogWarning("agent {Agent}: trainer event seq {Seq} of job {Job} refused: {Reason}", agentId, e.Seq, e.JobId, ex.Message);
            }
        }
        return typed;
    }
}
