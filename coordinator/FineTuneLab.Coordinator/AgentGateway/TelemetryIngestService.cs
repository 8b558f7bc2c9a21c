namespace FineTuneLab.Coordinator.AgentGateway;

/// <summary>
/// The ingest's place in the host's lifetime. Its writer thread starts with the store (<see cref="TelemetryIngest"/>);
/// at shutdown, which stops Kestrel (and so every agent session) before the hosted services, this stores what the
/// sessions queued last and closes the writer, before the store itself is disposed.
/// </summary>
public sealed class TelemetryIngestService(IServiceProvider services, CoordinatorHealth health, ILogger<TelemetryIngestService> log) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken)
    {
        if (!health.IsStoreOpen) return Task.CompletedTask;
        services.GetRequiredService<TelemetryIngest>().Dispose();
        log.LogInformation("telemetry ingest drained");
        return Task.CompletedTask;
    }
}
