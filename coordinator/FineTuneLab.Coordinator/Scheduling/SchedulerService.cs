using FineTuneLab.Coordinator.AgentGateway;
using FineTuneLab.Coordinator.Hosting;

namespace FineTuneLab.Coordinator.Scheduling;

/// <summary>Runs <see cref="SchedulerLoop.Tick"/> every 500 ms, or at once when woken (a job queued, an agent came, a job ended).</summary>
public sealed class SchedulerService(IServiceProvider services, CoordinatorHealth health, ILogger<SchedulerService> log)
    : StoreBoundLoop(health, log, TimeSpan.FromMilliseconds(500))
{
    private SchedulerLoop? _loop;
    private CoordinatorRuntime? _runtime;

    protected override void OnStoreOpen() =>
        (_loop, _runtime) = (services.GetRequiredService<SchedulerLoop>(), services.GetRequiredService<CoordinatorRuntime>());

    protected override void Tick() => _loop!.Tick();

    protected override Task WaitAsync(TimeSpan max, CancellationToken cancellationToken) => _runtime!.WaitForWakeAsync(max, cancellationToken);
}
