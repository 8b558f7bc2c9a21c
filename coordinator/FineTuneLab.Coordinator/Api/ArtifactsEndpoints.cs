using FineTuneLab.Coordinator.Blobs;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Net.Http.Headers;
using static FineTuneLab.Coordinator.Api.ApiSupport;

namespace FineTuneLab.Coordinator.Api;

/// <summary>An artifact in the blob store.</summary>
public sealed record ArtifactStored(string Sha256, long SizeBytes, string Name, string Kind);

/// <summary><c>POST /api/artifacts?name=&amp;kind=</c> (raw body into the blob store) and <c>GET /api/artifacts/{sha256}</c>.</summary>
public static class ArtifactsEndpoints
{
    private static readonly string[] Kinds = ["dataset", "model", "checkpoint", "adapter", "package", "file"];

    public static void MapArtifacts(this RouteGroupBuilder artifacts)
    {
        artifacts.MapPost("", Upload).WithSummary("Upload an artifact (raw body; query name, kind)")
            .RawBody("application/octet-stream").Query("kind", "What the artifact is (default file)", Kinds);
        artifacts.MapGet("/{sha256}", (string sha256, BlobStore blobs) => Blob(blobs, sha256, "application/octet-stream", null))
            .WithSummary("Download an artifact").Produces(StatusCodes.Status200OK, contentType: "application/octet-stream");
    }

    private static async Task<Results<Created<ArtifactStored>, ProblemHttpResult>> Upload(HttpRequest request, string? name, string? kind,
        CoordinatorRuntime rt, CancellationToken cancellationToken)
    {
        kind ??= "file";
        if (string.IsNullOrWhiteSpace(name) || name.Contains('/') || name.Contains('\\'))
            return BadRequest("query parameter 'name' is required (a file name without folders)");
        if (!Kinds.Contains(kind)) return BadRequest($"kind '{kind}' is not one of {string.Join(", ", Kinds)}");
        var (sha, size) = await rt.Blobs.PutAsync(request.Body, cancellationToken);
        rt.RecordArtifact(sha, null, name, kind, size);
        return TypedResults.Created($"/api/artifacts/{sha}", new ArtifactStored(sha, size, name, kind));
    }

    /// <summary>A blob as a download (ETag = its SHA-256), or 404.</summary>
    public static Results<FileStreamHttpResult, ProblemHttpResult> Blob(BlobStore blobs, string sha, string contentType, string? fileName) =>
        blobs.Exists(sha)
            ? TypedResults.Stream(blobs.OpenRead(sha), contentType, fileName, entityTag: new EntityTagHeaderValue($"\"{sha}\""))
            : NotFound($"artifact {sha} not found");
}
