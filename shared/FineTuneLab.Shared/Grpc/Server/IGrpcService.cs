using Microsoft.AspNetCore.Routing;

namespace FineTuneLab.Shared.Grpc.Server;

/// <summary>A service implementation that maps its methods; see <see cref="GrpcEndpointRouteBuilderExtensions.MapGrpcService"/>.</summary>
public interface IGrpcService
{
    void MapMethods(IEndpointRouteBuilder endpoints);
}
