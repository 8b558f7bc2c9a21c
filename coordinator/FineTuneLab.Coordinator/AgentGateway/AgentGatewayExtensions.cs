using Grpc.AspNetCore.Server;
using Grpc.Net.Compression;

namespace FineTuneLab.Coordinator.AgentGateway;

/// <summary>
/// The coordinator's gRPC side in one place: the agent gateway (grpc-dotnet, authenticated by
/// <see cref="AgentAuthInterceptor"/>), the standard health service driven by <see cref="CoordinatorHealth"/>, and
/// server reflection (so grpcurl and other standard tools can list and call the services).
/// </summary>
public static class AgentGatewayExtensions
{
    /// <summary>The largest message an agent may send (after decompression); larger ones fail with RESOURCE_EXHAUSTED.</summary>
    public const int MaxReceiveMessageSize = 4 << 20;

    public static IServiceCollection AddAgentGateway(this IServiceCollection services)
    {
        services.AddSingleton<AgentAuthInterceptor>();
        services.AddSingleton<AgentSessionCall>();
        services.AddSingleton<ArtifactTransfers>();
        services.AddSingleton<AgentGatewayService>();
        services.AddGrpc(o =>
        {
            o.MaxReceiveMessageSize = MaxReceiveMessageSize;
            // Agents may gzip what they send (telemetry compresses well); answers go uncompressed.
            o.CompressionProviders = [new GzipCompressionProvider(System.IO.Compression.CompressionLevel.Fastest)];
        }).AddServiceOptions<AgentGatewayService>(o => o.Interceptors.Add<AgentAuthInterceptor>());
        services.AddGrpcReflection();
        services.AddGrpcHealthChecks(o =>
        {
            o.Services.Map("", _ => true);
            o.Services.Map(FineTuneLab.Shared.Protos.Agent.V1.AgentGateway.Descriptor.FullName, _ => true);
        }).AddCheck<CoordinatorHealth>("coordinator");
        return services;
    }

    public static IEndpointRouteBuilder MapAgentGateway(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapGrpcService<AgentGatewayService>();
        endpoints.MapGrpcHealthChecksService();
        endpoints.MapGrpcReflectionService();
        return endpoints;
    }
}
