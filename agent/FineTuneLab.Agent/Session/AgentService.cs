using FineTuneLab.Agent.Artifacts;
using FineTuneLab.Agent.Jobs;
using FineTuneLab.Agent.Node;
using FineTuneLab.Agent.Outbox;
using Grpc.Core;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using LogLevel = FineTuneLab.Shared.Protos.Agent.V1.LogLevel;

namespace FineTuneLab.Agent.Session;

/// <summary>
/// The agent's life: sample the node, register, then hold one session with the coordinator, reconnecting with
/// jittered exponential backoff (a fresh channel each time) until the host stops; at the end, stop the running job.
/// The parts: <see cref="TelemetrySampler"/>, <see cref="Registration"/>, <see cref="SessionClient"/>,
/// <see cref="JobSlot"/>, and the outbox everything bound for the store goes through.
/// </summary>
public sealed class AgentService(AgentOptions options, ILogger<AgentService> log) : BackgroundService
{
    private static readonly TimeSpan FirstBackoff = TimeSpan.FromMilliseconds(250);
    private static readonly TimeSpan MaxBackoff = TimeSpan.FromSeconds(10);
    private readonly AgentCredentials _credentials = new(options.JoinToken);
    private AgentChannel _channel = null!;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        Directory.CreateDirectory(options.DataDir);
        using var outbox = new DiskOutbox(options.OutboxDir);
        var outgoing = new Outgoing(outbox);
        _channel = new AgentChannel(options.Coordinator, _credentials);
        var artifacts = new ArtifactClient(() => _channel.Client, options.CacheDir);
        var jobs = new JobSlot(options, outgoing, artifacts, log);
        var sampler = new TelemetrySampler(options.DataDir, outgoing, jobs, log);
        var session = new SessionClient(outgoing, jobs, log);
        var registration = new Registration(options, _credentials, log);
        var telemetry = Task.Run(() => sampler.RunAsync(stoppingToken), stoppingToken);
        var idle = Task.CompletedTask;
        if (options is { IdleShutdownAfter: { } after, IdleShutdownCommand: { } command })
        {
            var watcher = new IdleShutdown(after, command, () => jobs.Current is not null,
                text => outgoing.Log(null, LogLevel.Warning, "agent", text), log);
            idle = Task.Run(() => watcher.RunAsync(stoppingToken), CancellationToken.None);
        }
        // The inventory lists the GPUs NVML found: wait for its first answer (a node without a driver answers at once).
        var gpus = await sampler.GpusAsync(TimeSpan.FromSeconds(5), stoppingToken);

        var backoff = FirstBackoff;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                if (!_credentials.IsRegistered) await registration.RegisterAsync(_channel, gpus, stoppingToken);
                await session.RunAsync(_channel, _credentials.AgentId, () => backoff = FirstBackoff, stoppingToken);
            }
            catch (Exception) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception e)
            {
                if (e is RpcException { StatusCode: StatusCode.Unauthenticated }) _credentials.Forget();
                // Transfers may still run on the old channel: it is disposed once they have had time to fail over.
                var old = _channel;
                _channel = new AgentChannel(options.Coordinator, _credentials);
                _ = Task.Delay(TimeSpan.FromSeconds(30), CancellationToken.None).ContinueWith(_ => old.Dispose(), TaskScheduler.Default);
                var wait = backoff * (0.5 + Random.Shared.NextDouble());
                log.LogWarning("coordinator session ended ({Message}); reconnecting in {Wait:0.0}s", e.Message, wait.TotalSeconds);
                try { await Task.Delay(wait, stoppingToken); } catch (OperationCanceledException) { break; }
                backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, MaxBackoff.Ticks));
            }
        }
        await jobs.StopAsync(TimeSpan.FromSeconds(20));
        try { await telemetry; } catch (OperationCanceledException) { }
        await idle;
    }

    public override void Dispose()
    {
        _channel?.Dispose();
        base.Dispose();
    }
}
