using Grpc.Health.V1;

namespace FineTuneLab.Shared.Grpc.Health;

/// <summary>The methods of the standard <c>grpc.health.v1.Health</c> service.</summary>
public static class HealthDescriptors
{
    public const string ServiceName = "grpc.health.v1.Health";

    public static readonly GrpcMethod<HealthCheckRequest, HealthCheckResponse> Check =
        new(MethodType.Unary, ServiceName, "Check", HealthCheckRequest.Parser, HealthCheckResponse.Parser);

    public static readonly GrpcMethod<HealthCheckRequest, HealthCheckResponse> Watch =
        new(MethodType.ServerStreaming, ServiceName, "Watch", HealthCheckRequest.Parser, HealthCheckResponse.Parser);
}
