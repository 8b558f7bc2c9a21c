using FineTuneLab.Coordinator.AgentGateway;

namespace FineTuneLab.Coordinator.Hosting;

/// <summary>
/// A hosted loop over the store: it waits until the store is open (its services cannot be built before), then
/// runs <see cref="Tick"/> every <paramref name="interval"/> or when <see cref="WaitAsync"/> says so; a failed tick
/// is logged and the loop goes on.
/// </summary>
public abstract class StoreBoundLoop(CoordinatorHealth health, ILogger log, TimeSpan interval) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try { await health.WhenStoreOpen(stoppingToken); }
        catch (OperationCanceledException) { return; }
        OnStoreOpen();
        while (!stoppingToken.IsCancellationRequested)
        {
            try { Tick(); }
            catch (Exception e) when (e is not OperationCanceledException) { log.LogError(e, "{Loop} tick failed", GetType().Name); }
            try { await WaitAsync(interval, stoppingToken); }
            catch (OperationCanceledException) { return; }
        }
    }

    /// <summary>Builds what the ticks use (the store is open now).</summary>
    protected abstract void OnStoreOpen();

    protected abstract void Tick();

    protected virtual Task WaitAsync(TimeSpan max, CancellationToken cancellationToken) => Task.Delay(max, cancellationToken);
}
