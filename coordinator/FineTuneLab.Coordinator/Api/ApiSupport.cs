using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using FineTuneLab.Coordinator.AgentGateway;
using Microsoft.AspNetCore.Http.HttpResults;

namespace FineTuneLab.Coordinator.Api;

/// <summary>One problem of a request, at a JSON path (and, for a spec the trainer refused, its line and column).</summary>
public sealed record FieldProblem(string Path, string Message)
{
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public int? Line { get; init; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public int? Column { get; init; }
}

/// <summary>
/// What every REST resource shares: JSON in snake_case (a diverged run's NaN and Infinity as the strings the event
/// contract writes), errors as <c>ProblemDetails</c> that also carry our <c>error</c> and <c>details</c> members
/// (clients read either), the bearer API key, the 503 while the store opens, and the route groups.
/// </summary>
public static class ApiSupport
{
    public static IServiceCollection AddApi(this IServiceCollection services)
    {
        services.ConfigureHttpJsonOptions(o =>
        {
            o.SerializerOptions.PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower;
            o.SerializerOptions.NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals;
        });
        // A request the handler's parameters cannot be bound from (a body that is not the request's JSON, a number that
        // is not one) is answered as our own problems are, with the binder's message; any other problem the framework
        // writes (an unhandled exception's 500) carries our members too.
        services.Configure<RouteHandlerOptions>(o => o.ThrowOnBadRequest = true);
        services.AddExceptionHandler<BadRequestProblems>();
        services.AddProblemDetails(o => o.CustomizeProblemDetails = c =>
        {
            c.ProblemDetails.Extensions.TryAdd("error", c.ProblemDetails.Detail ?? c.ProblemDetails.Title);
            c.ProblemDetails.Extensions.TryAdd("details", Array.Empty<FieldProblem>());
        });
        services.AddCoordinatorOpenApi();
        services.AddSingleton(_ => Jobs.ValidatorSlots.ForThisMachine());
        return services;
    }

    /// <summary>Every REST route, in groups; a resource adds its routes to its group (the jobs group takes new job routes).</summary>
    public static void MapApi(this IEndpointRouteBuilder endpoints)
    {
        var api = endpoints.MapGroup("/api");
        var jobs = api.MapGroup("/jobs").WithTags("jobs");
        jobs.MapJobs();
        jobs.MapJobCommands();
        jobs.MapJobFeeds();
        jobs.MapJobStreams();
        jobs.MapJobOutputs();
        jobs.MapJobExport();
        jobs.MapJobCost();
        jobs.MapJobTelemetry();
        api.MapGroup("/artifacts").WithTags("artifacts").MapArtifacts();
        var agents = api.MapGroup("/agents").WithTags("agents");
        agents.MapAgents();
        agents.MapAgentTelemetry();
        api.MapGroup("/costs").WithTags("costs").MapCosts();
        endpoints.MapPrometheus();
        endpoints.MapOpenApi("/openapi.json");
    }

    /// <summary>An error: <c>ProblemDetails</c> (status, title, detail) with <c>error</c> (the message) and <c>details</c> (per-field problems).</summary>
    public static ProblemHttpResult Problem(int status, string message, IReadOnlyList<FieldProblem>? details = null) =>
        TypedResults.Problem(detail: message, statusCode: status,
            extensions: new Dictionary<string, object?> { ["error"] = message, ["details"] = details ?? [] });

    public static ProblemHttpResult NotFound(string message) => Problem(StatusCodes.Status404NotFound, message);

    public static ProblemHttpResult BadRequest(string message, IReadOnlyList<FieldProblem>? details = null) =>
        Problem(StatusCodes.Status400BadRequest, message, details);

    /// <summary>
    /// With an API key configured, every <c>/api/*</c> request and <c>/metrics</c> (it shows spend per job and project)
    /// needs <c>Authorization: Bearer KEY</c>, compared in fixed time. Without one, everything is open: the host logs
    /// that at startup.
    /// </summary>
    public static void UseApiKey(this IApplicationBuilder app, string? apiKey)
    {
        if (apiKey is null) return;
        var expected = "Bearer " + apiKey;
        app.Use(async (http, next) =>
        {
            if ((http.Request.Path.StartsWithSegments("/api") || http.Request.Path.StartsWithSegments("/metrics"))
                && !Security.Secrets.FixedTimeEquals(http.Request.Headers.Authorization.ToString(), expected))
            {
                await Problem(StatusCodes.Status401Unauthorized, "missing or wrong API key (Authorization: Bearer KEY)").ExecuteAsync(http);
                return;
            }
            await next(http);
        });
    }

    /// <summary>Until the store is open (the services the handlers take are built with it), <c>/api/*</c> and <c>/metrics</c> answer 503.</summary>
    public static void UseStartingGate(this IApplicationBuilder app, CoordinatorHealth health) => app.Use(async (http, next) =>
    {
        if (!health.IsStoreOpen && (http.Request.Path.StartsWithSegments("/api") || http.Request.Path.StartsWithSegments("/metrics")))
        {
            await Problem(StatusCodes.Status503ServiceUnavailable, "the coordinator is starting").ExecuteAsync(http);
            return;
        }
        await next(http);
    });

    /// <summary>Answers a binding failure (<see cref="BadHttpRequestException"/>) with its status and message.</summary>
    private sealed class BadRequestProblems : Microsoft.AspNetCore.Diagnostics.IExceptionHandler
    {
        public async ValueTask<bool> TryHandleAsync(HttpContext http, Exception exception, CancellationToken cancellationToken)
        {
            if (exception is not BadHttpRequestException bad) return false;
            await Problem(bad.StatusCode, QueryChecks.BinderMessage(bad.Message)).ExecuteAsync(http);
            return true;
        }
    }

    public static JsonNode? ParseJson(string text) =>
        JsonNode.Parse(text, documentOptions: new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
}
