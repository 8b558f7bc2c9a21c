using FineTuneLab.Coordinator.Jobs;
using System.Threading.Channels;
using FineTuneLab.Shared.Protos.Agent.V1;
using Grpc.Core;

namespace FineTuneLab.Coordinator.AgentGateway;

/// <summary>
/// One agent's duplex session: the hello is answered with a welcome (what the store holds of the agent's outbox),
/// commands it has not acked are sent again, each message that must reach the store goes to the ingest and is acked
/// in arrival order once committed, and the queue of outgoing messages (acks, assignments, commands) is drained to the
/// stream by a single writer.
/// </summary>
public sealed class AgentSessionCall(CoordinatorRuntime runtime, ILogger<AgentSessionCall> log)
{
    private const int MaxInFlightPerSession = 16;

    public async Task RunAsync(string agentId, IAsyncStreamReader<AgentMessage> requests, IServerStreamWriter<CoordinatorMessage> responses, CancellationToken callEnded)
    {
        if (!await requests.MoveNext(callEnded) || requests.Current.BodyCase != AgentMessage.BodyOneofCase.Hello)
            throw new RpcException(new Status(StatusCode.FailedPrecondition, "the first message of a session must be a SessionHello"));
        var hello = requests.Current.Hello;
        runtime.Agents.Touch(agentId);
        var queue = runtime.Sessions.Open(agentId);
        log.LogInformation("agent {Id} connected (last seq {Last}, persisted {Persisted}, running [{Jobs}])",
            agentId, hello.LastSeq, runtime.Agents.PersistedSeq(agentId), string.Join(",", hello.RunningJobIds));
        using var done = CancellationTokenSource.CreateLinkedTokenSource(callEnded);
        var writer = WriteLoopAsync(queue, responses, done.Token);
        var ingest = new TelemetryIngest.Session(agentId);
        // Messages are handed to the ingest as they arrive and acked in arrival order as their commits complete, so a
        // session keeps several batches in the writer's next transaction instead of waiting out each commit.
        var inFlight = Channel.CreateBounded<(Task<ulong> Persisted, bool IsState)>(new BoundedChannelOptions(MaxInFlightPerSession) { SingleReader = true, SingleWriter = true });
        Task? acker = null;
        try
        {
            queue.Writer.TryWrite(new CoordinatorMessage { Welcome = new SessionWelcome { PersistedSeq = runtime.Agents.PersistedSeq(agentId) } });
            var resent = runtime.Commands.SendPending(agentId);
            if (resent > 0) log.LogInformation("agent {Id}: {Count} command(s) it has not acked sent again", agentId, resent);
            // Jobs the agent no longer runs may have ended while it was cut off: reconcile once its outbox replay
            // has caught up to what it had produced at hello, so a final state report is seen before a re-queue.
            var reconciled = false;
            void ReconcileWhenCaughtUp(ulong persisted)
            {
                if (reconciled || persisted < hello.LastSeq) return;
                reconciled = true;
                runtime.Reconcile(agentId, hello.RunningJobIds);
            }
            ReconcileWhenCaughtUp(runtime.Agents.PersistedSeq(agentId));
            // A failed persist ends the session (the acker cancels the read); the agent replays from the persisted seq.
            async Task<bool> NextAsync()
            {
                try { return await requests.MoveNext(done.Token); }
                catch (OperationCanceledException) when (acker is { IsFaulted: true }) { await acker; throw; }
            }
            acker = AckLoopAsync(runtime, inFlight.Reader, queue, ReconcileWhenCaughtUp, done);
            while (await NextAsync())
            {
                var m = requests.Current;
                switch (m.BodyCase)
                {
                    case AgentMessage.BodyOneofCase.Heartbeat:
                        _ = runtime.Ingest.HeartbeatAsync(ingest, m.Heartbeat.CurrentJobId, m.Heartbeat.JobUptimeS).ContinueWith(
                            t => log.LogWarning(t.Exception!.GetBaseException(), "agent {Id}: heartbeat not stored", agentId),
                            CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
                        break;
                    case AgentMessage.BodyOneofCase.Telemetry or AgentMessage.BodyOneofCase.Logs
                        or AgentMessage.BodyOneofCase.JobState or AgentMessage.BodyOneofCase.CommandAck:
                        // Waits here when the writer is behind: the agent's stream backs up, not our memory.
                        await inFlight.Writer.WriteAsync((runtime.Ingest.PersistAsync(ingest, m, IncomingEvents.Parse(agentId, m, log)), m.BodyCase == AgentMessage.BodyOneofCase.JobState), done.Token);
                        break;
                    case AgentMessage.BodyOneofCase.Hello:
                        throw new RpcException(new Status(StatusCode.FailedPrecondition, "SessionHello sent twice"));
                }
            }
            inFlight.Writer.TryComplete();
            await acker;
        }
        finally
        {
            inFlight.Writer.TryComplete();
            await done.CancelAsync();
            // Whatever the session received is committed before it counts as closed: once the agent shows offline,
            // nothing more of this session reaches the store.
            if (acker is not null) try { await acker; } catch (Exception) { }
            while (inFlight.Reader.TryRead(out var left)) try { await left.Persisted; } catch (Exception) { }
            runtime.Sessions.Close(agentId, queue);
            try { await writer; } catch (OperationCanceledException) { } catch (RpcException) { } catch (IOException) { } catch (InvalidOperationException) { }
            log.LogInformation("agent {Id} disconnected", agentId);
        }
    }

    /// <summary>Acks each message once committed, in arrival order (the acked seq only grows); wakes the scheduler after a state change.</summary>
    private static async Task AckLoopAsync(CoordinatorRuntime runtime, ChannelReader<(Task<ulong> Persisted, bool IsState)> inFlight,
        Channel<CoordinatorMessage> queue, Action<ulong> caughtUp, CancellationTokenSource session)
    {
        try
        {
            await foreach (var (persisted, isState) in inFlight.ReadAllAsync(session.Token))
            {
                var seq = await persisted;
                queue.Writer.TryWrite(new CoordinatorMessage { Ack = new Ack { PersistedSeq = seq } });
                caughtUp(seq);
                if (isState) runtime.Wake();
            }
        }
        catch (Exception) when (!session.IsCancellationRequested)
        {
            await session.CancelAsync();
            throw;
        }
    }

    // The one writer of the response stream: grpc-dotnet allows a single write in flight per call.
    private static async Task WriteLoopAsync(Channel<CoordinatorMessage> queue, IServerStreamWriter<CoordinatorMessage> responses, CancellationToken cancellationToken)
    {
        await foreach (var m in queue.Reader.ReadAllAsync(cancellationToken))
            await responses.WriteAsync(m, cancellationToken);
    }
}
