using System.Text.Json.Nodes;
using static FineTuneLab.Coordinator.Api.ApiSupport;

namespace FineTuneLab.Coordinator.Api;

/// <summary><c>POST /api/artifacts?name=&amp;kind=</c> (raw body into the blob store) and <c>GET /api/artifacts/{sha256}</c>.</summary>
public static class ArtifactsEndpoints
{
    private static readonly string[] Kinds = ["dataset", "model", "checkpoint", "adapter", "package", "file"];

    public static void MapArtifacts(this IEndpointRouteBuilder endpoints, Func<CoordinatorRuntime?> runtime)
    {
        endpoints.MapPost("/api/artifacts", With(runtime, async (http, rt) =>
        {
            var name = Query(http, "name");
            var kind = Query(http, "kind") ?? "file";
            if (string.IsNullOrWhiteSpace(name) || name.Contains('/') || name.Contains('\\'))
            {
                await Error(http, 400, "query parameter 'name' is required (a file name without folders)");
                return;
            }
            if (!Kinds.Contains(kind))
            {
                await Error(http, 400, $"kind '{kind}' is not one of {string.Join(", ", Kinds)}");
                return;
            }
            var (sha, size) = await rt.Blobs.PutAsync(http.Request.Body, http.RequestAborted);
            rt.RecordArtifact(sha, null, name, kind, size);
            await Write(http, new JsonObject { ["sha256"] = sha, ["size_bytes"] = size, ["name"] = name, ["kind"] = kind }, 201);
        }));
        endpoints.MapGet("/api/artifacts/{sha256}", With(runtime, (http, rt) => SendBlob(http, rt, RouteId(http, "sha256"), "application/octet-stream", null)));
    }

    public static async Task SendBlob(HttpContext http, CoordinatorRuntime rt, string sha, string contentType, string? fileName)
    {
        if (!rt.Blobs.Exists(sha))
        {
            await Error(http, 404, $"artifact {sha} not found");
            return;
        }
        http.Response.ContentType = contentType;
        http.Response.Headers.ETag = $"\"{sha}\"";
        http.Response.ContentLength = rt.Blobs.SizeOf(sha);
        if (fileName is not null) http.Response.Headers.ContentDisposition = $"attachment; filename=\"{fileName}\"";
        await using var file = rt.Blobs.OpenRead(sha);
        await file.CopyToAsync(http.Response.Body, http.RequestAborted);
    }
}
