using FineTuneLab.Agent.Outbox;
using FineTuneLab.Shared.Protos.Agent.V1;
using Google.Protobuf.WellKnownTypes;

namespace FineTuneLab.Agent.Session;

/// <summary>Everything bound for the coordinator's store goes through here: appended to the disk outbox, then the session sender is woken.</summary>
public sealed class Outgoing(DiskOutbox outbox)
{
    private readonly SemaphoreSlim _signal = new(0, 1);

    public DiskOutbox Outbox { get; } = outbox;

    public void Point(string? jobId, int gpuIndex, string metric, double value, DateTimeOffset at) =>
        Append(OutboxRecord.Wrap(new TelemetryPoint { At = Timestamp.FromDateTimeOffset(at), JobId = jobId ?? "", GpuIndex = gpuIndex, Metric = metric, Value = value }));

    public void Point(TelemetryPoint point) => Append(OutboxRecord.Wrap(point));

    /// <summary>Queues a trainer event (already typed: <see cref="FineTuneLab.Shared.Protos.TrainerEventMessages.ToMessage"/>) for the job.</summary>
    public void Event(string jobId, TrainerEvent message)
    {
        message.JobId = jobId;
        message.At = Timestamp.FromDateTime(DateTime.UtcNow);
        Append(OutboxRecord.Wrap(message));
    }

    public void Log(string? jobId, LogLevel level, string source, string text) =>
        Append(OutboxRecord.Wrap(new LogLine { JobId = jobId ?? "", Level = level, Source = source, Text = text, At = Timestamp.FromDateTime(DateTime.UtcNow) }));

    public void State(JobStateChange change)
    {
        change.At ??= Timestamp.FromDateTime(DateTime.UtcNow);
        Append(OutboxRecord.Wrap(change));
    }

    /// <summary>Tells the coordinator the command arrived (after whatever state change it caused), so it stops re-sending it.</summary>
    public void CommandAck(JobCommand command) =>
        Append(OutboxRecord.Wrap(new CommandAck { JobId = command.JobId, CommandId = command.CommandId, At = Timestamp.FromDateTime(DateTime.UtcNow) }));

    private void Append(AgentMessage message)
    {
        Outbox.Append(message);
        try { _signal.Release(); } catch (SemaphoreFullException) { }
    }

    /// <summary>Waits until something new was appended (or the timeout passes).</summary>
    public Task WaitAsync(TimeSpan timeout, CancellationToken cancellationToken) => _signal.WaitAsync(timeout, cancellationToken);
}
