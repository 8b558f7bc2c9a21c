using FineTuneLab.Events;
using FineTuneLab.Shared.Protos.Agent.V1;
using TrainerEvent = FineTuneLab.Events.TrainerEvent;
using Microsoft.Extensions.Logging;

namespace FineTuneLab.Coordinator.Jobs;

/// <summary>
/// A trainer event an agent relayed, typed at the gateway's edge: the record and the JSON it is stored as (the
/// trainer's line as relayed, which EventJson accepted; for a typed message with no text, EventJson's own form).
/// </summary>
public sealed record IncomingTrainerEvent(ulong Seq, string JobId, DateTime? At, TrainerEvent Event, string Json)
{
    public string Type => EventJson.TypeName(Event);
}

/// <summary>The gateway edge's one parse of the trainer events in an agent's message.</summary>
public static class IncomingEvents
{
    /// <summary>
    /// Parses each relayed event once with <see cref="EventJson"/>. An unknown or malformed one is refused with the
    /// reason (logged, naming agent, job and seq); its seq still counts as persisted, since sending it again cannot fix it.
    /// </summary>
    public static IReadOnlyList<IncomingTrainerEvent> Parse(string agentId, AgentMessage m, ILogger log)
    {
        if (m.BodyCase != AgentMessage.BodyOneofCase.Telemetry || m.Telemetry.Events.Count == 0) return [];
        var typed = new List<IncomingTrainerEvent>(m.Telemetry.Events.Count);
        foreach (var e in m.Telemetry.Events)
        {
            string? error;
            if (EventJson.TryParse(e.Json, out var parsed, out error) && EventJson.TypeName(parsed) == e.Type)
            {
                typed.Add(new IncomingTrainerEvent(e.Seq, e.JobId, e.At?.ToDateTime(), parsed, e.Json));
                continue;
            }
            error ??= $"sent as '{e.Type}' but is a '{EventJson.TypeName(parsed!)}' event";
            log.LogWarning("agent {Agent}: trainer event seq {Seq} of job {Job} refused: {Reason}", agentId, e.Seq, e.JobId, error);
        }
        return typed;
    }
}
