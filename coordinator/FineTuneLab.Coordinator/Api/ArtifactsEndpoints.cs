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

    /// <summary>The longest artifact name (it becomes a file name in packages and on agents).</summary>
    public const int MaxNameLength = 255;

    private static async Task<Results<Created<ArtifactStored>, ProblemHttpResult>> Upload(HttpRequest request, string? name, string? kind,
        CoordinatorRuntime rt, CancellationToken cancellationToken)
    {
        kind ??= "file";
        if (NameProblem(name) is { } problem) return BadRequest($"query parameter 'name' {problem}");
        if (!Kinds.Contains(kind)) return BadRequest($"query parameter 'kind': '{kind}' is not one of {string.Join(", ", Kinds)}");
        // Streamed to disk up to --max-upload-gb (Kestrel's 30 MB default is for the other routes, not for model tars).
        var max = rt.Options.MaxUploadBytes;
        if (request.ContentLength > max) return TooLarge(max);
        if (request.HttpContext.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit)
            limit.MaxRequestBodySize = max;
        string sha;
        long size;
        try
        {
            (sha, size) = await rt.Blobs.PutAsync(request.Body, cancellationToken);
        }
        catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            return TooLarge(max);
        }
        rt.RecordArtifact(sha, null, name!, kind, size);
        return TypedResults.Created($"/api/artifacts/{sha}", new ArtifactStored(sha, size, name!, kind));
    }

    private static ProblemHttpResult TooLarge(long max) =>
        Problem(StatusCodes.Status413PayloadTooLarge, $"upload over {max} bytes, the coordinator's limit (--max-upload-gb)");

    /// <summary>
    /// Why <paramref name="name"/> cannot name an artifact, or null: it is a plain file name (no folders, not <c>.</c>
    /// or <c>..</c>) without NUL, line breaks, other control or bidi characters, which would otherwise reach logs,
    /// package entries and agents' file names as given.
    /// </summary>
    public static string? NameProblem(string? name)
    {
        if (string.IsNullOrWhiteSpace(name)) return "is required (a file name without folders)";
        if (name.Length > MaxNameLength) return $"is {name.Length} characters long; at most {MaxNameLength} are allowed";
        if (name.Contains('/') || name.Contains('\\')) return "must be a file name without folders (no / or \\)";
        if (name is "." or ".." || name.Contains("..", StringComparison.Ordinal)) return "must not contain '..'";
        if (SafeText.FirstUnsafe(name) is { } bad) return $"must not contain {bad}";
        return null;
    }

    /// <summary>A blob as a download (ETag = its SHA-256), or 404.</summary>
    public static Results<FileStreamHttpResult, ProblemHttpResult> Blob(BlobStore blobs, string sha, string contentType, string? fileName) =>
        blobs.Exists(sha)
            ? TypedResults.Stream(blobs.OpenRead(sha), contentType, fileName, entityTag: new EntityTagHeaderValue($"\"{sha}\""))
            : NotFound($"artifact {sha} not found");
}
