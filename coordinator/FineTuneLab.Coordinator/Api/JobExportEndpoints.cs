using FineTuneLab.Coordinator.Jobs;
using Microsoft.AspNetCore.Http.HttpResults;
using static FineTuneLab.Coordinator.Api.ApiSupport;

namespace FineTuneLab.Coordinator.Api;

/// <summary>While a GGUF is being built: ask again after <see cref="RetryAfterS"/> seconds (the same URL).</summary>
public sealed record ExportBuilding(string State, string Format, string Quant, int RetryAfterS);

/// <summary>
/// <c>GET /api/jobs/{id}/export?format=gguf|gguf-lora&amp;quant=…</c>: a finished job's model as one GGUF file for
/// llama.cpp and Ollama (or its adapter as a llama.cpp LoRA GGUF), built on the coordinator on first request
/// (202 until it is ready), then served by its SHA-256; <c>/export/modelfile?quant=</c>: the Ollama Modelfile for it.
/// </summary>
public static class JobExportEndpoints
{
    private const int RetryAfterSeconds = 5;

    public static void MapJobExport(this RouteGroupBuilder jobs)
    {
        jobs.MapGet("/{id}/export", Export).WithSummary("The fine-tuned model as GGUF (format gguf: merged, QUANT; gguf-lora: the adapter); 202 while it is built")
            .Query("format", "gguf (the merged model, default) or gguf-lora (the adapter alone)", GgufExports.Formats)
            .Query("quant", "the GGUF's tensor encoding for format gguf (default f16)", GgufExports.Quants)
            .Produces(StatusCodes.Status200OK, contentType: "application/octet-stream");
        jobs.MapGet("/{id}/export/modelfile", Modelfile).WithSummary("The Ollama Modelfile of the job's merged GGUF (build it first)")
            .Query("quant", "the GGUF's encoding (default f16)", GgufExports.Quants)
            .Produces(StatusCodes.Status200OK, contentType: "text/plain");
    }

    private static Results<FileStreamHttpResult, Accepted<ExportBuilding>, ProblemHttpResult> Export(string id, string? format, string? quant,
        JobStore jobs, GgufExports exports, HttpResponse response, CoordinatorRuntime rt)
    {
        format ??= "gguf";
        quant ??= "f16";
        if (!GgufExports.Formats.Contains(format)) return BadRequest($"format '{format}' is not one of {string.Join(", ", GgufExports.Formats)}");
        if (!GgufExports.Quants.Contains(quant)) return BadRequest($"quant '{quant}' is not one of {string.Join(", ", GgufExports.Quants)}");
        if (jobs.Get(id) is not { } job) return NotFound($"job {id} not found");
        switch (exports.Get(job, format, quant))
        {
            case GgufExports.Ready ready:
                return ArtifactsEndpoints.Blob(rt.Blobs, ready.Sha256, "application/octet-stream", ready.FileName).Result switch
                {
                    FileStreamHttpResult file => file,
                    ProblemHttpResult problem => problem,
                    _ => throw new InvalidOperationException("unexpected blob result"),
                };
            case GgufExports.Failed failed:
                return Problem(StatusCodes.Status422UnprocessableEntity, $"the {format} export of job {id} failed: {failed.Reason}");
            case GgufExports.Unavailable unavailable:
                return Problem(StatusCodes.Status409Conflict, unavailable.Reason);
            default:
                response.Headers.RetryAfter = RetryAfterSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
                return TypedResults.Accepted($"/api/jobs/{id}/export?format={format}&quant={quant}", new ExportBuilding("building", format, quant, RetryAfterSeconds));
        }
    }

    private static Results<FileStreamHttpResult, ProblemHttpResult> Modelfile(string id, string? quant, JobStore jobs, GgufExports exports, CoordinatorRuntime rt)
    {
        quant ??= "f16";
        if (!GgufExports.Quants.Contains(quant)) return BadRequest($"quant '{quant}' is not one of {string.Join(", ", GgufExports.Quants)}");
        if (jobs.Get(id) is not { } job) return NotFound($"job {id} not found");
        return exports.ModelfileSha(job, quant) is { } sha
            ? ArtifactsEndpoints.Blob(rt.Blobs, sha, "text/plain", "Modelfile")
            : NotFound($"job {id} has no {quant} GGUF built yet: GET /api/jobs/{id}/export?format=gguf&quant={quant} first");
    }
}
