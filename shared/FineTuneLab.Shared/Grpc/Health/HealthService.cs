using FineTuneLab.Shared.Grpc.Server;
using Grpc.Health.V1;
using Microsoft.AspNetCore.Routing;

namespace FineTuneLab.Shared.Grpc.Health;

/// <summary>
/// The standard health service (grpc/doc/health-checking.md): Check answers the registered status or NOT_FOUND;
/// Watch streams the status and its changes until the client leaves or <paramref name="stopping"/> fires.
/// </summary>
public sealed class HealthService(HealthStatusRegistry registry, CancellationToken stopping = default) : IGrpcService
{
    public void MapMethods(IEndpointRouteBuilder endpoints)
    {
        endpoints.MapGrpcMethod(HealthDescriptors.Check, Check);
        endpoints.MapGrpcMethod(HealthDescriptors.Watch, Watch);
    }

    public Task<HealthCheckResponse> Check(HealthCheckRequest request, ServerCallContext context)
    {
        var status = registry.Get(request.Service)
                     ?? throw new RpcException(StatusCode.NotFound, $"unknown service '{request.Service}'");
        return Task.FromResult(new HealthCheckResponse { Status = status });
    }

    public async Task Watch(HealthCheckRequest request, IServerStreamWriter<HealthCheckResponse> responses, ServerCallContext context)
    {
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(context.CancellationToken, stopping);
        await foreach (var status in registry.WatchAsync(request.Service, linked.Token).ConfigureAwait(false))
            await responses.WriteAsync(new HealthCheckResponse { Status = status }).ConfigureAwait(false);
    }
}
