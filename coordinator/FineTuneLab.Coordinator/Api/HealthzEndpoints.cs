using FineTuneLab.Coordinator.AgentGateway;

namespace FineTuneLab.Coordinator.Api;

/// <summary><c>GET /healthz</c>: 200 {"status":"serving"} once the store is open, else 503 {"status":"not_serving"}.</summary>
public static class HealthzEndpoints
{
    public static void MapHealthz(this IEndpointRouteBuilder endpoints, CoordinatorHealth health)
    {
        endpoints.MapGet("/healthz", (RequestDelegate)(http =>
        {
            var serving = health.IsServing;
            http.Response.StatusCode = serving ? StatusCodes.Status200OK : StatusCodes.Status503ServiceUnavailable;
            http.Response.ContentType = "application/json";
            return http.Response.WriteAsync(serving ? """{"status":"serving"}""" : """{"status":"not_serving"}""");
        }));
    }
}
