namespace FineTuneLab.Coordinator.AgentGateway;

/// <summary>
/// Runs the ingest's writer for the host's lifetime: it starts it once the store is open (a thread of its own: the
/// writer is busy for whole transactions and must not take the thread pool's workers), and at shutdown, which stops
/// Kestrel (and so every agent session) before the hosted services, stores what the sessions queued last and closes
/// the writer, before the container disposes the store.
/// </summary>
public sealed class TelemetryIngestService(IServiceProvider services, CoordinatorHealth health, ILogger<TelemetryIngestService> log) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try { await health.WhenStoreOpen(stoppingToken); }
        catch (OperationCanceledException) { return; }
        services.GetRequiredService<TelemetryIngest>().Start();
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        if (!health.IsStoreOpen) return;
        services.GetRequiredService<TelemetryIngest>().Dispose();
        log.LogInformation("telemetry ingest drained");
    }
}
