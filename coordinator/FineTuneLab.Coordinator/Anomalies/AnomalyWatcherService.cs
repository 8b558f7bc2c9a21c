using FineTuneLab.Coordinator.AgentGateway;
using FineTuneLab.Coordinator.Hosting;

namespace FineTuneLab.Coordinator.Anomalies;

/// <summary>Runs <see cref="AnomalyWatcher.Tick"/> every 500 ms (it checks each running job's streams at most every 5 s).</summary>
public sealed class AnomalyWatcherService(IServiceProvider services, CoordinatorHealth health, ILogger<AnomalyWatcherService> log)
    : StoreBoundLoop(health, log, TimeSpan.FromMilliseconds(500))
{
    private AnomalyWatcher? _watcher;

    protected override void OnStoreOpen() => _watcher = services.GetRequiredService<AnomalyWatcher>();

    protected override void Tick() => _watcher!.Tick();
}
