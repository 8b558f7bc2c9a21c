using System.Text.Json;
using FineTuneLab.Agent.Artifacts;
using FineTuneLab.Agent.Jobs;
using FineTuneLab.Agent.Node;
using FineTuneLab.Agent.Nvml;
using FineTuneLab.Agent.Outbox;
using FineTuneLab.Shared.Grpc;
using FineTuneLab.Shared.Grpc.Agent;
using FineTuneLab.Shared.Grpc.Client;
using FineTuneLab.Shared.Protos.Agent.V1;
using Google.Protobuf.WellKnownTypes;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace FineTuneLab.Agent.Session;

/// <summary>
/// The agent's life: register, then hold one session stream with the coordinator (reconnecting with jittered
/// exponential backoff), replay the outbox from what the coordinator says it persisted, send heartbeats, sample
/// telemetry, and run the jobs it is assigned.
/// </summary>
public sealed class AgentService(AgentOptions options, ILogger<AgentService> log) : BackgroundService
{
    private const int MaxItemsPerMessage = 512;
    private const ulong MaxUnacked = 50_000;
    private static readonly TimeSpan HandshakeTimeout = TimeSpan.FromSeconds(10);
    private GrpcChannel _channel = NewChannel(options.Coordinator);

    // A fresh channel per session attempt: a connection that died mid-call is never reused.
    private static GrpcChannel NewChannel(Uri address) => GrpcChannel.ForAddress(address,
        new GrpcChannelOptions { KeepAlivePingDelay = TimeSpan.FromSeconds(5), KeepAlivePingTimeout = TimeSpan.FromSeconds(5), ConnectTimeout = TimeSpan.FromSeconds(5) });
    private Outgoing _outgoing = null!;
    private ArtifactClient _artifacts = null!;
    private string _agentId = "";
    private string _agentToken = "";
    private JobRunner? _job;
    private Task? _jobTask;
    private readonly object _jobGate = new();
    private ulong _lastCommandId;
    private List<GpuInfo> _gpus = [];
    private readonly TaskCompletionSource _gpusKnown = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private Metadata Auth() => new Metadata().Add("authorization", "Bearer " + _agentToken).Add("x-ftl-agent-id", _agentId);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        Directory.CreateDirectory(options.DataDir);
        using var outbox = new DiskOutbox(options.OutboxDir);
        _outgoing = new Outgoing(outbox);
        _artifacts = new ArtifactClient(() => _channel.CreateCallInvoker(), Auth, options.CacheDir);
        var nvml = new NvmlSampler();
        var telemetry = Task.Run(() => SampleAsync(nvml, stoppingToken), stoppingToken);
        var idle = Task.CompletedTask;
        if (options is { IdleShutdownAfter: { } after, IdleShutdownCommand: { } command })
        {
            var watcher = new IdleShutdown(after, command, () => { lock (_jobGate) return _job is not null; },
                text => _outgoing.Log(null, FineTuneLab.Shared.Protos.Agent.V1.LogLevel.Warning, "agent", text), log);
            idle = Task.Run(() => watcher.RunAsync(stoppingToken), CancellationToken.None);
        }
        // The inventory lists the GPUs NVML found: wait for its first answer (a node without a driver answers at once).
        await Task.WhenAny(_gpusKnown.Task, Task.Delay(TimeSpan.FromSeconds(5), stoppingToken));

        var backoff = TimeSpan.FromMilliseconds(250);
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                if (_agentToken.Length == 0) await RegisterAsync(stoppingToken);
                await RunSessionAsync(() => backoff = TimeSpan.FromMilliseconds(250), stoppingToken);
            }
            catch (Exception) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception e)
            {
                if (e is RpcException { StatusCode: StatusCode.Unauthenticated } && _agentToken.Length > 0) _agentToken = "";
                var old = _channel;
                _channel = NewChannel(options.Coordinator);
                _ = Task.Delay(TimeSpan.FromSeconds(30), CancellationToken.None).ContinueWith(_ => old.Dispose(), TaskScheduler.Default);
                var wait = backoff * (0.5 + Random.Shared.NextDouble());
                log.LogWarning("coordinator session ended ({Message}); reconnecting in {Wait:0.0}s", e.Message, wait.TotalSeconds);
                try { await Task.Delay(wait, stoppingToken); } catch (OperationCanceledException) { break; }
                backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, TimeSpan.FromSeconds(10).Ticks));
            }
        }
        JobRunner? running;
        Task? runningTask;
        lock (_jobGate) { running = _job; runningTask = _jobTask; }
        if (running is not null && runningTask is not null)
        {
            running.Command(new JobCommand { JobId = running.JobId, Kind = CommandKind.Stop, Reason = "agent_shutdown" });
            await Task.WhenAny(runningTask, Task.Delay(TimeSpan.FromSeconds(20), CancellationToken.None));
        }
        try { await telemetry; } catch (OperationCanceledException) { }
        await idle;
    }

    private async Task RegisterAsync(CancellationToken cancellationToken)
    {
        string? knownId = File.Exists(options.IdentityFile)
            ? JsonDocument.Parse(File.ReadAllText(options.IdentityFile)).RootElement.GetProperty("agent_id").GetString() : null;
        var inventory = NodeInventoryProbe.Probe(options.DataDir, options.Provider, options.PricePerHour, _gpus, null);
        var response = await _channel.CreateCallInvoker().UnaryAsync(AgentGatewayDescriptors.Register,
            new RegisterRequest { Name = options.Name, Inventory = inventory, AgentId = knownId ?? "" },
            CallOptions.WithTimeout(TimeSpan.FromSeconds(15), new Metadata().Add("authorization", "Bearer " + options.JoinToken), cancellationToken));
        _agentId = response.AgentId;
        _agentToken = response.AgentToken;
        var tmp = options.IdentityFile + ".tmp";
        File.WriteAllText(tmp, JsonSerializer.Serialize(new { agent_id = _agentId }));
        File.Move(tmp, options.IdentityFile, overwrite: true);
        log.LogInformation("registered with {Coordinator} as {Id}", options.Coordinator, _agentId);
    }

    private async Task RunSessionAsync(Action connected, CancellationToken stoppingToken)
    {
        using var sessionEnd = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
        sessionEnd.CancelAfter(HandshakeTimeout); // a coordinator that accepts but never welcomes is no session
        using var call = _channel.CreateCallInvoker().Duplex(AgentGatewayDescriptors.Session, new CallOptions(Auth(), CancellationToken: sessionEnd.Token));
        var hello = new SessionHello { AgentId = _agentId, LastSeq = _outgoing.Outbox.LastSeq };
        lock (_jobGate) if (_job is not null) hello.RunningJobIds.Add(_job.JobId);
        await call.RequestStream.WriteAsync(new AgentMessage { Hello = hello }, sessionEnd.Token);
        if (!await call.ResponseStream.MoveNext(sessionEnd.Token) || call.ResponseStream.Current.BodyCase != CoordinatorMessage.BodyOneofCase.Welcome)
            throw new RpcException(StatusCode.Internal, "the coordinator did not answer the hello with a welcome");
        sessionEnd.CancelAfter(Timeout.InfiniteTimeSpan);
        var persisted = call.ResponseStream.Current.Welcome.PersistedSeq;
        _outgoing.Outbox.Ack(persisted);
        log.LogInformation("session open: coordinator persisted up to seq {Persisted}, outbox holds {Pending} unsent item(s)", persisted, _outgoing.Outbox.PendingCount);
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
                        _outgoing.Outbox.Ack(m.Ack.PersistedSeq);
                        break;
                    case CoordinatorMessage.BodyOneofCase.Assign:
                        StartJob(m.Assign, stoppingToken);
                        break;
                    case CoordinatorMessage.BodyOneofCase.Command:
                        ApplyCommand(m.Command);
                        break;
                }
            }
            throw new RpcException(StatusCode.Unavailable, "the coordinator closed the session");
        }
        finally
        {
            await sessionEnd.CancelAsync();
            try { await sender; } catch (Exception) when (sender.IsCompleted) { }
        }
    }

    /// <summary>
    /// Applies a command to the job it names if that job runs here, once per command id (the coordinator re-sends a
    /// command at each session start until it is acked), and acks every persisted command, applied or moot.
    /// </summary>
    private void ApplyCommand(JobCommand command)
    {
        lock (_jobGate)
        {
            var fresh = command.CommandId == 0 || command.CommandId > _lastCommandId;
            if (fresh && _job?.JobId == command.JobId) _job.Command(command);
            if (command.CommandId == 0) return;
            _lastCommandId = Math.Max(_lastCommandId, command.CommandId);
            _outgoing.CommandAck(command);
        }
    }

    private async Task SendAsync(IClientStreamWriter<AgentMessage> stream, ulong from, CancellationToken cancellationToken)
    {
        var sent = from;
        var nextHeartbeat = DateTime.UtcNow;
        while (!cancellationToken.IsCancellationRequested)
        {
            if (DateTime.UtcNow >= nextHeartbeat)
            {
                JobRunner? job;
                lock (_jobGate) job = _job;
                await stream.WriteAsync(new AgentMessage
                {
                    Heartbeat = new Heartbeat { At = Timestamp.FromDateTime(DateTime.UtcNow), CurrentJobId = job?.JobId ?? "", JobUptimeS = job?.UptimeSeconds ?? 0 },
                }, cancellationToken);
                nextHeartbeat = DateTime.UtcNow.AddSeconds(1);
            }
            var pending = sent - _outgoing.Outbox.AckedSeq < MaxUnacked ? _outgoing.Outbox.Pending(sent, MaxItemsPerMessage * 8) : [];
            if (pending.Count == 0)
            {
                try { await _outgoing.WaitAsync(TimeSpan.FromMilliseconds(200), cancellationToken); } catch (OperationCanceledException) { return; }
                continue;
            }
            foreach (var message in Batch(pending))
                await stream.WriteAsync(message, cancellationToken);
            sent = pending[^1].Seq;
        }
    }

    /// <summary>Packs consecutive outbox items into few messages: telemetry points and events together, log lines together, state changes and command acks alone.</summary>
    internal static IEnumerable<AgentMessage> Batch(IReadOnlyList<OutboxRecord> records)
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

    private void StartJob(JobAssignment assignment, CancellationToken stoppingToken)
    {
        lock (_jobGate)
        {
            if (_job is not null)
            {
                if (_job.JobId != assignment.JobId)
                    log.LogWarning("assignment {Job} refused: {Running} is still running", assignment.JobId, _job.JobId);
                return;
            }
            log.LogInformation("assigned job {Job} at ${Price}/h", assignment.JobId, assignment.PricePerHourUsd);
            var runner = new JobRunner(assignment, options, _outgoing, _artifacts, log);
            _job = runner;
            _jobTask = Task.Run(async () =>
            {
                try { await runner.RunAsync(stoppingToken); }
                finally { lock (_jobGate) { _job = null; _jobTask = null; } }
            }, CancellationToken.None);
        }
    }

    private async Task SampleAsync(NvmlSampler nvml, CancellationToken cancellationToken)
    {
        var host = new HostSampler(options.DataDir);
        var gpuTask = nvml.RunAsync((snapshot, _) =>
        {
            if (snapshot.State != NvmlState.Available)
            {
                _gpusKnown.TrySetResult();
                log.LogInformation("no GPU telemetry: {Message}", snapshot.Message);
                return ValueTask.CompletedTask;
            }
            string? jobId;
            lock (_jobGate) jobId = _job?.JobId;
            if (_gpus.Count == 0)
                _gpus = snapshot.Gpus.Select(g => new GpuInfo { Index = (uint)g.Index, Name = g.Name, Uuid = g.Uuid, MemoryTotalBytes = g.MemoryTotalBytes ?? 0 }).ToList();
            _gpusKnown.TrySetResult();
            foreach (var g in snapshot.Gpus)
            {
                if (g.GpuUtilizationPercent is { } u) _outgoing.Point(jobId, g.Index, "gpu.util", u, snapshot.Time);
                if (g.MemoryUsedBytes is { } mem) _outgoing.Point(jobId, g.Index, "gpu.mem.used", mem, snapshot.Time);
                if (g.TemperatureC is { } t) _outgoing.Point(jobId, g.Index, "gpu.temp", t, snapshot.Time);
                if (g.PowerWatts is { } p) _outgoing.Point(jobId, g.Index, "gpu.power", p, snapshot.Time);
            }
            return ValueTask.CompletedTask;
        }, cancellationToken);
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1));
        try
        {
            do
            {
                string? jobId;
                int? pid;
                lock (_jobGate) { jobId = _job?.JobId; pid = _job?.TrainerPid; }
                foreach (var point in host.Sample(DateTimeOffset.UtcNow, jobId, pid)) _outgoing.Point(point);
            } while (await timer.WaitForNextTickAsync(cancellationToken));
        }
        catch (OperationCanceledException) { }
        await gpuTask;
    }

    public override void Dispose()
    {
        _channel.Dispose();
        base.Dispose();
    }
}
