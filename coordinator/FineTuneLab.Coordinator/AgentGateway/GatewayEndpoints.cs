using FineTuneLab.Shared.Grpc.Health;
using FineTuneLab.Shared.Grpc.Server;

namespace FineTuneLab.Coordinator.AgentGateway;

/// <summary>The gRPC side of the coordinator: the standard health service, and UNIMPLEMENTED for anything not mapped.</summary>
public static class GatewayEndpoints
{
    public static void MapGatewayEndpoints(this IEndpointRouteBuilder endpoints, CoordinatorHealth health, CancellationToken stopping, AgentGatewayService gateway)
    {
        endpoints.MapGrpcService(gateway);
        endpoints.MapGrpcService(new HealthService(health.Registry, stopping));
        endpoints.MapGrpcUnimplemented();
    }
}
