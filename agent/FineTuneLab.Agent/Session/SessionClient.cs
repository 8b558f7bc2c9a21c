using FineTuneLab.Agent.Jobs;
using FineTuneLab.Shared.Protos.Agent.V1;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Microsoft.Extensions.Logging;

namespace FineTuneLab.Agent.Session;

/// <summary>
/// One session stream with the coordinator: the hello (what the agent produced, what it still runs) and the welcome
/// (what the coordinator persisted), then the outbox replayed from there with heartbeats in between, acks trimming the
/// outbox, and assignments and commands handed to the job slot. Ends with an exception when the stream does.
/// </summary>
public sealed class SessionClient(Outgoing outgoing, JobSlot jobs, ILogger log)
{
    private const ulong MaxUnacked = 50_000;
    private static readonly TimeSpan HandshakeTimeout = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan HeartbeatInterval = TimeSpan.FromSeconds(1);

    /// <param name="connected">Called once the coordinator has welcomed the session (the reconnect backoff starts over).</param>
    public async Task RunAsync(AgentChannel channel, string agentId, Action connected, CancellationToken stoppingToken)
    {
        using var sessionEnd = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
        sessionEnd.CancelAfter(HandshakeTimeout); // a coordinator that accepts but never welcomes is no session
        // Uncompressed: on a LAN gzip costs the coordinator more CPU than it saves (docs/BENCHMARKS.md, telemetry ingest).
        using var call = channel.Client.Session(cancellationToken: sessionEnd.Token);
        var hello = new SessionHello { AgentId = agentId, LastSeq = outgoing.Outbox.LastSeq };
        if (jobs.Current is { } running) hello.RunningJobIds.Add(running.JobId);
        await call.RequestStream.WriteAsync(new AgentMessage { Hello = hello }, sessionEnd.Token);
        if (!await call.ResponseStream.MoveNext(sessionEnd.Token) || call.ResponseStream.Current.BodyCase != CoordinatorMessage.BodyOneofCase.Welcome)
            throw new RpcException(new Status(StatusCode.Internal, "the coordinator did not answer the hello with a welcome"));
        sessionEnd.CancelAfter(Timeout.InfiniteTimeSpan);
        var persisted = call.ResponseStream.Current.Welcome.PersistedSeq;
        outgoing.Outbox.Ack(persisted);
        log.LogInformation("session open: coordinator persisted up to seq {Persisted}, outbox holds {Pending} unsent item(s)", persisted, outgoing.Outbox.PendingCount);
        connected();

        var sender = SendAsync(call.RequestStream, persisted, sessionEnd.Token);
        try
        {
            while (await call.ResponseStream.MoveNext(sessionEnd.Token))
            {
                var m = call.ResponseStream.Current;
                switch (m.BodyCase)
                {
                    case CoordinatorMessage.BodyOneofCase.Ack:
                        outgoing.Outbox.Ack(m.Ack.PersistedSeq);
                        break;
                    case CoordinatorMessage.BodyOneofCase.Assign:
                        jobs.Start(m.Assign, stoppingToken);
                        break;
                    case CoordinatorMessage.BodyOneofCase.Command:
                        jobs.Apply(m.Command);
                        break;
                }
            }
            throw new RpcException(new Status(StatusCode.Unavailable, "the coordinator closed the session"));
        }
        finally
        {
            await sessionEnd.CancelAsync();
            try { await sender; } catch (Exception) when (sender.IsCompleted) { }
        }
    }

    // The one writer of the request stream: heartbeats every second, and outbox items past what was sent, as long as
    // no more than MaxUnacked are waiting for their ack.
    private async Task SendAsync(IClientStreamWriter<AgentMessage> stream, ulong from, CancellationToken cancellationToken)
    {
        var sent = from;
        var nextHeartbeat = DateTime.UtcNow;
        while (!cancellationToken.IsCancellationRequested)
        {
            if (DateTime.UtcNow >= nextHeartbeat)
            {
                var job = jobs.Current;
                await stream.WriteAsync(new AgentMessage
                {
                    Heartbeat = new Heartbeat { At = Timestamp.FromDateTime(DateTime.UtcNow), CurrentJobId = job?.JobId ?? "", JobUptimeS = job?.UptimeSeconds ?? 0 },
                }, cancellationToken);
                nextHeartbeat = DateTime.UtcNow + HeartbeatInterval;
            }
            var pending = sent - outgoing.Outbox.AckedSeq < MaxUnacked ? outgoing.Outbox.Pending(sent, OutboxBatches.MaxItemsPerMessage * 8) : [];
            if (pending.Count == 0)
            {
                try { await outgoing.WaitAsync(TimeSpan.FromMilliseconds(200), cancellationToken); } catch (OperationCanceledException) { return; }
                continue;
            }
            foreach (var message in OutboxBatches.Pack(pending))
                await stream.WriteAsync(message, cancellationToken);
            sent = pending[^1].Seq;
        }
    }
}
