using System.Text.Json;
using System.Text.Json.Nodes;

namespace FineTuneLab.Coordinator.Api;

/// <summary>What every REST resource shares: the bearer API key, JSON answers and errors, and the route table.</summary>
public static class ApiSupport
{
    public static readonly JsonSerializerOptions Json = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower, WriteIndented = false };

    /// <summary>With an API key configured, every <c>/api/*</c> request needs <c>Authorization: Bearer KEY</c>.</summary>
    public static void UseApiKey(this IApplicationBuilder app, string? apiKey)
    {
        if (apiKey is null) return;
        app.Use(async (http, next) =>
        {
            if (http.Request.Path.StartsWithSegments("/api") && http.Request.Headers.Authorization.ToString() != "Bearer " + apiKey)
            {
                await Error(http, StatusCodes.Status401Unauthorized, "missing or wrong API key (Authorization: Bearer KEY)");
                return;
            }
            await next(http);
        });
    }

    public static void MapApi(this IEndpointRouteBuilder endpoints, Func<CoordinatorRuntime?> runtime)
    {
        endpoints.MapArtifacts(runtime);
        endpoints.MapJobs(runtime);
        endpoints.MapJobCommands(runtime);
        endpoints.MapJobFeeds(runtime);
        endpoints.MapJobOutputs(runtime);
        endpoints.MapAgents(runtime);
        endpoints.MapCosts(runtime);
        endpoints.MapTelemetry(runtime);
        endpoints.MapPrometheus(runtime);
        endpoints.MapOpenApi();
    }

    /// <summary>Wraps a handler so that it answers 503 until the store is open.</summary>
    public static RequestDelegate With(Func<CoordinatorRuntime?> runtime, Func<HttpContext, CoordinatorRuntime, Task> handler) => async http =>
    {
        if (runtime() is not { } rt)
        {
            await Error(http, StatusCodes.Status503ServiceUnavailable, "the coordinator is starting");
            return;
        }
        await handler(http, rt);
    };

    public static Task Write(HttpContext http, JsonNode? body, int status = StatusCodes.Status200OK)
    {
        http.Response.StatusCode = status;
        http.Response.ContentType = "application/json";
        return http.Response.WriteAsync(body?.ToJsonString() ?? "null");
    }

    public static Task Error(HttpContext http, int status, string message, JsonArray? details = null) =>
        Write(http, new JsonObject { ["error"] = message, ["details"] = details ?? [] }, status);

    public static string? Query(HttpContext http, string name) => http.Request.Query.TryGetValue(name, out var v) ? v.ToString() : null;

    public static int QueryInt(HttpContext http, string name, int fallback) =>
        int.TryParse(Query(http, name), out var n) ? n : fallback;

    public static string RouteId(HttpContext http, string name = "id") => (string)http.Request.RouteValues[name]!;

    public static JsonNode? ParseJson(string text) =>
        JsonNode.Parse(text, documentOptions: new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
}
