using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace FineTuneLab.Coordinator.AgentGateway;

/// <summary>
/// The coordinator's readiness: not serving while starting (the store is not open yet), serving once it is, not serving
/// again from the moment shutdown begins. Read by <c>/healthz</c> and, as an ASP.NET Core health check, by the standard
/// gRPC health service (Grpc.AspNetCore.HealthChecks) for the server ("") and the agent gateway.
/// </summary>
public sealed class CoordinatorHealth : IHealthCheck
{
    private readonly TaskCompletionSource _opened = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private volatile bool _stopping;

    public bool IsServing => IsStoreOpen && !_stopping;

    /// <summary>Whether the store (and with it every service that needs it) is open: until then the API answers 503 and the gateway UNAVAILABLE.</summary>
    public bool IsStoreOpen => _opened.Task.IsCompleted;

    /// <summary>Completes once the store is open (what the hosted loops wait for before they start).</summary>
    public Task WhenStoreOpen(CancellationToken cancellationToken) => _opened.Task.WaitAsync(cancellationToken);

    public void MarkStoreOpen() => _opened.TrySetResult();

    /// <summary>Once stopping, a late <see cref="MarkStoreOpen"/> does not revive the server.</summary>
    public void MarkStopping() => _stopping = true;

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(IsServing ? HealthCheckResult.Healthy("the store is open")
            : _stopping ? HealthCheckResult.Unhealthy("shutting down") : HealthCheckResult.Unhealthy("starting: the store is not open yet"));
}
