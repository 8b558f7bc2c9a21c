using FineTuneLab.Shared.Protos.Agent.V1;

namespace FineTuneLab.Agent.Outbox;

/// <summary>
/// One thing the coordinator must persist: exactly one of a telemetry point, a trainer event, a log line, a job
/// state change or a command ack, with the agent's sequence number inside it.
/// </summary>
public readonly record struct OutboxRecord(ulong Seq, AgentMessage Message)
{
    /// <summary>Wraps one item as the agent message that carries it, after stamping its sequence number.</summary>
    public static AgentMessage Wrap(TelemetryPoint point) => new() { Telemetry = new TelemetryBatch { Points = { point } } };
    public static AgentMessage Wrap(TrainerEvent e) => new() { Telemetry = new TelemetryBatch { Events = { e } } };
    public static AgentMessage Wrap(LogLine line) => new() { Logs = new LogBatch { Lines = { line } } };
    public static AgentMessage Wrap(JobStateChange change) => new() { JobState = change };
    public static AgentMessage Wrap(CommandAck ack) => new() { CommandAck = ack };

    /// <summary>Sets the sequence number of the single item a wrapped message carries.</summary>
    internal static void Stamp(AgentMessage message, ulong seq)
    {
        switch (message.BodyCase)
        {
            case AgentMessage.BodyOneofCase.Telemetry when message.Telemetry.Points.Count == 1 && message.Telemetry.Events.Count == 0:
                message.Telemetry.Points[0].Seq = seq; break;
            case AgentMessage.BodyOneofCase.Telemetry when message.Telemetry.Events.Count == 1 && message.Telemetry.Points.Count == 0:
                message.Telemetry.Events[0].Seq = seq; break;
            case AgentMessage.BodyOneofCase.Logs when message.Logs.Lines.Count == 1:
                message.Logs.Lines[0].Seq = seq; break;
            case AgentMessage.BodyOneofCase.JobState:
                message.JobState.Seq = seq; break;
            case AgentMessage.BodyOneofCase.CommandAck:
                message.CommandAck.Seq = seq; break;
            default:
                throw new ArgumentException($"an outbox record carries exactly one item, not {message.BodyCase} with several", nameof(message));
        }
    }
}
