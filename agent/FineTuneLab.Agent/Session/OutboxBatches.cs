using FineTuneLab.Agent.Outbox;
using FineTuneLab.Shared.Protos.Agent.V1;

namespace FineTuneLab.Agent.Session;

/// <summary>Packs consecutive outbox items into few messages: telemetry points and events together, log lines together, state changes and command acks alone.</summary>
public static class OutboxBatches
{
    public const int MaxItemsPerMessage = 512;

    public static IEnumerable<AgentMessage> Pack(IReadOnlyList<OutboxRecord> records)
    {
        AgentMessage? current = null;
        var count = 0;
        foreach (var r in records)
        {
            var m = r.Message;
            var kind = m.BodyCase;
            var alone = kind is AgentMessage.BodyOneofCase.JobState or AgentMessage.BodyOneofCase.CommandAck;
            if (current is not null && (current.BodyCase != kind || alone || count >= MaxItemsPerMessage))
            {
                yield return current;
                current = null;
            }
            if (current is null)
            {
                current = kind switch
                {
                    AgentMessage.BodyOneofCase.Telemetry => new AgentMessage { Telemetry = new TelemetryBatch() },
                    AgentMessage.BodyOneofCase.Logs => new AgentMessage { Logs = new LogBatch() },
                    _ => m,
                };
                count = 0;
                if (alone) { count = 1; continue; }
            }
            if (kind == AgentMessage.BodyOneofCase.Telemetry)
            {
                current.Telemetry.Points.Add(m.Telemetry.Points);
                current.Telemetry.Events.Add(m.Telemetry.Events);
            }
            else if (kind == AgentMessage.BodyOneofCase.Logs)
            {
                current.Logs.Lines.Add(m.Logs.Lines);
            }
            count++;
        }
        if (current is not null) yield return current;
    }
}
