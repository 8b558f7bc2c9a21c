using FineTuneLab.Coordinator.AgentGateway;
using Microsoft.AspNetCore.Http.HttpResults;

namespace FineTuneLab.Coordinator.Api;

/// <summary>What <c>/healthz</c> answers.</summary>
public sealed record HealthAnswer(string Status);

/// <summary><c>GET /healthz</c>: 200 {"status":"serving"} once the store is open, else 503 {"status":"not_serving"}.</summary>
public static class HealthzEndpoints
{
    public static void MapHealthz(this IEndpointRouteBuilder endpoints) =>
        endpoints.MapGet("/healthz", Results<Ok<HealthAnswer>, JsonHttpResult<HealthAnswer>> (CoordinatorHealth health) => health.IsServing
                ? TypedResults.Ok(new HealthAnswer("serving"))
                : TypedResults.Json(new HealthAnswer("not_serving"), statusCode: StatusCodes.Status503ServiceUnavailable))
            .WithSummary("Health").WithTags("health");
}
