using FineTuneLab.Coordinator.Blobs;
using FineTuneLab.Coordinator.Jobs;
using FineTuneLab.Coordinator.Store;
using FineTuneLab.Shared.Grpc;
using FineTuneLab.Shared.Grpc.Agent;
using FineTuneLab.Shared.Grpc.Server;
using FineTuneLab.Shared.Protos.Agent.V1;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;

namespace FineTuneLab.Coordinator.AgentGateway;

/// <summary>
/// The server side of <c>ftl.agent.v1.AgentGateway</c>. Register trades the join token for an agent token; every other
/// call carries <c>authorization: Bearer &lt;agent token&gt;</c> and <c>x-ftl-agent-id</c>.
/// </summary>
public sealed class AgentGatewayService(Func<CoordinatorRuntime?> getRuntime, string? joinToken, ILogger log) : IGrpcService
{
    private CoordinatorRuntime runtime => getRuntime() ?? throw new RpcException(StatusCode.Unavailable, "the coordinator is starting");

    public const string AgentIdHeader = "x-ftl-agent-id";
    public static readonly TimeSpan HeartbeatInterval = TimeSpan.FromSeconds(1);
    private const int MaxChunk = 1 << 20;

    public void MapMethods(IEndpointRouteBuilder endpoints)
    {
        endpoints.MapGrpcMethod(AgentGatewayDescriptors.Register, Register);
        endpoints.MapGrpcMethod(AgentGatewayDescriptors.Session, Session);
        endpoints.MapGrpcMethod(AgentGatewayDescriptors.UploadArtifact, UploadArtifact);
        endpoints.MapGrpcMethod(AgentGatewayDescriptors.QueryUpload, QueryUpload);
        endpoints.MapGrpcMethod(AgentGatewayDescriptors.DownloadArtifact, DownloadArtifact);
    }

    public Task<RegisterResponse> Register(RegisterRequest request, ServerCallContext context)
    {
        if (joinToken is not null && context.BearerToken != joinToken)
            throw new RpcException(StatusCode.Unauthenticated, "the join token (authorization: Bearer …) is missing or wrong");
        if (request.Inventory is null) throw new RpcException(StatusCode.InvalidArgument, "inventory is required");
        var name = string.IsNullOrWhiteSpace(request.Name) ? request.Inventory.Hostname : request.Name;
        var (id, token) = runtime.Agents.Register(request.AgentId, name, request.Inventory);
        log.LogInformation("agent {Name} registered as {Id} ({Gpus} GPU(s), ${Price}/h)", name, id, request.Inventory.Gpus.Count, request.Inventory.PricePerHourUsd);
        return Task.FromResult(new RegisterResponse
        {
            AgentId = id,
            AgentToken = token,
            HeartbeatIntervalMs = (uint)HeartbeatInterval.TotalMilliseconds,
            TelemetryIntervalMs = 1000,
        });
    }

    private string Authenticate(ServerCallContext context)
    {
        var id = context.RequestHeaders.GetValue(AgentIdHeader);
        if (id is null || !runtime.Agents.Authenticate(id, context.BearerToken))
            throw new RpcException(StatusCode.Unauthenticated, $"unknown agent or wrong agent token ({AgentIdHeader}: {id ?? "missing"})");
        return id;
    }

    public async Task Session(IAsyncStreamReader<AgentMessage> requests, IServerStreamWriter<CoordinatorMessage> responses, ServerCallContext context)
    {
        var agentId = Authenticate(context);
        if (!await requests.MoveNext(context.CancellationToken) || requests.Current.BodyCase != AgentMessage.BodyOneofCase.Hello)
            throw new RpcException(StatusCode.FailedPrecondition, "the first message of a session must be a SessionHello");
        var hello = requests.Current.Hello;
        runtime.Agents.Touch(agentId);
        var queue = runtime.Sessions.Open(agentId);
        log.LogInformation("agent {Id} connected (last seq {Last}, persisted {Persisted}, running [{Jobs}])",
            agentId, hello.LastSeq, runtime.Agents.PersistedSeq(agentId), string.Join(",", hello.RunningJobIds));
        using var done = CancellationTokenSource.CreateLinkedTokenSource(context.CancellationToken);
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
            acker = AckLoopAsync(inFlight.Reader, queue, ReconcileWhenCaughtUp, done);
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
                        throw new RpcException(StatusCode.FailedPrecondition, "SessionHello sent twice");
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
            try { await writer; } catch (OperationCanceledException) { } catch (RpcException) { } catch (IOException) { }
            log.LogInformation("agent {Id} disconnected", agentId);
        }
    }

    private const int MaxInFlightPerSession = 16;

    /// <summary>Acks each message once committed, in arrival order (the acked seq only grows); wakes the scheduler after a state change.</summary>
    private async Task AckLoopAsync(ChannelReader<(Task<ulong> Persisted, bool IsState)> inFlight, Channel<CoordinatorMessage> queue,
        Action<ulong> caughtUp, CancellationTokenSource session)
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

    private static async Task WriteLoopAsync(Channel<CoordinatorMessage> queue,
        IServerStreamWriter<CoordinatorMessage> responses, CancellationToken cancellationToken)
    {
        await foreach (var m in queue.Reader.ReadAllAsync(cancellationToken))
            await responses.WriteAsync(m, cancellationToken);
    }

    public async Task<UploadResult> UploadArtifact(IAsyncStreamReader<ArtifactChunk> requests, ServerCallContext context)
    {
        Authenticate(context);
        BlobStore.UploadInfo? info = null;
        while (await requests.MoveNext(context.CancellationToken))
        {
            var chunk = requests.Current;
            if (info is null)
            {
                if (!BlobStore.IsSha256(chunk.Sha256) || chunk.UploadId.Length == 0 || chunk.Name.Length == 0)
                    throw new RpcException(StatusCode.InvalidArgument, "the first chunk must carry upload_id, name and a lowercase hex sha256");
                info = new BlobStore.UploadInfo(chunk.UploadId, chunk.JobId, chunk.Name, chunk.Kind, (long)chunk.TotalSize, chunk.Sha256);
                try { runtime.Blobs.BeginUpload(info); }
                catch (ArgumentException e) { throw new RpcException(StatusCode.InvalidArgument, e.Message); }
            }
            try
            {
                if (chunk.Data.Length > 0)
                    await runtime.Blobs.AppendAsync(info.UploadId, (long)chunk.Offset, chunk.Data.Memory, context.CancellationToken);
            }
            catch (InvalidDataException e) { throw new RpcException(StatusCode.FailedPrecondition, e.Message); }
            if (chunk.Last) break;
        }
        if (info is null) throw new RpcException(StatusCode.InvalidArgument, "no chunks");
        try { await runtime.Blobs.CompleteUploadAsync(info.UploadId, context.CancellationToken); }
        catch (InvalidDataException e) { throw new RpcException(StatusCode.DataLoss, e.Message); }
        runtime.RecordArtifact(info.Sha256, info.JobId.Length == 0 ? null : info.JobId, info.Name, info.Kind, info.TotalSize);
        return new UploadResult { Sha256 = info.Sha256, SizeBytes = (ulong)info.TotalSize };
    }

    public Task<UploadStatus> QueryUpload(UploadQuery request, ServerCallContext context)
    {
        Authenticate(context);
        try
        {
            var (received, complete) = runtime.Blobs.QueryUpload(request.UploadId);
            return Task.FromResult(new UploadStatus { ReceivedBytes = (ulong)received, Complete = complete });
        }
        catch (ArgumentException e) { throw new RpcException(StatusCode.InvalidArgument, e.Message); }
    }

    public async Task DownloadArtifact(DownloadRequest request, IServerStreamWriter<ArtifactChunk> responses, ServerCallContext context)
    {
        Authenticate(context);
        if (!runtime.Blobs.Exists(request.Sha256))
            throw new RpcException(StatusCode.NotFound, $"artifact {request.Sha256} is not in the blob store");
        var chunkSize = request.ChunkSize == 0 ? 256 << 10 : (int)Math.Min(request.ChunkSize, MaxChunk);
        await using var file = runtime.Blobs.OpenRead(request.Sha256);
        var total = file.Length;
        file.Seek((long)request.Offset, SeekOrigin.Begin);
        var buffer = new byte[chunkSize];
        var offset = (long)request.Offset;
        while (true)
        {
            var n = await file.ReadAtLeastAsync(buffer, chunkSize, throwOnEndOfStream: false, context.CancellationToken);
            var last = offset + n >= total;
            await responses.WriteAsync(new ArtifactChunk
            {
                Sha256 = request.Sha256, TotalSize = (ulong)total, Offset = (ulong)offset,
                Data = Google.Protobuf.ByteString.CopyFrom(buffer, 0, n), Last = last,
            });
            offset += n;
            if (last) break;
        }
    }
}
