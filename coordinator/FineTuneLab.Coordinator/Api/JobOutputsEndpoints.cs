using System.IO.Compression;
using System.Text.Json.Nodes;
using FineTuneLab.Coordinator.Jobs;
using Microsoft.AspNetCore.Http.HttpResults;
using static FineTuneLab.Coordinator.Api.ApiSupport;

namespace FineTuneLab.Coordinator.Api;

/// <summary>An uploaded checkpoint with the metrics of its step (as the metrics feed has them).</summary>
public sealed record CheckpointItem(long Step, string Sha256, long Bytes, string CreatedAt, CheckpointMetrics? Metrics);

public sealed record CheckpointMetrics(double Loss, double? EvalLoss, double? TokenAccuracy, double CostUsd);

/// <summary>What a job produced: checkpoints (list, download), the final adapter, and the training package zip.</summary>
public static class JobOutputsEndpoints
{
    public static void MapJobOutputs(this RouteGroupBuilder jobs)
    {
        jobs.MapGet("/{id}/checkpoints", Checkpoints).WithSummary("Uploaded checkpoints");
        jobs.MapGet("/{id}/checkpoints/{step}", Checkpoint).WithSummary("A checkpoint as a tar (ETag = SHA-256)")
            .Produces(StatusCodes.Status200OK, contentType: "application/x-tar");
        jobs.MapGet("/{id}/adapter", Adapter).WithSummary("The final adapter as a tar").Produces(StatusCodes.Status200OK, contentType: "application/x-tar");
        jobs.MapGet("/{id}/package", Package).WithSummary("The training package zip").Produces(StatusCodes.Status200OK, contentType: "application/zip");
    }

    private static Results<Ok<List<CheckpointItem>>, ProblemHttpResult> Checkpoints(string id, CoordinatorRuntime rt)
    {
        if (rt.Jobs.Get(id) is not { } job) return NotFound($"job {id} not found");
        var rows = JobFeedsEndpoints.MetricRows(rt, job).ToDictionary(r => r.Step);
        return TypedResults.Ok(rt.Jobs.Checkpoints(job.Id).Select(c => new CheckpointItem(c.Step, c.Sha256, c.Bytes, c.CreatedAt,
            rows.TryGetValue(c.Step, out var m) ? new CheckpointMetrics(m.Loss, m.EvalLoss, m.TokenAccuracy, m.CostUsd) : null)).ToList());
    }

    private static Results<FileStreamHttpResult, ProblemHttpResult> Checkpoint(string id, string step, CoordinatorRuntime rt)
    {
        var cp = rt.Jobs.Checkpoints(id).FirstOrDefault(c => c.Step.ToString(System.Globalization.CultureInfo.InvariantCulture) == step);
        if (cp is null) return NotFound($"job {id} has no checkpoint at step {step}");
        return ArtifactsEndpoints.Blob(rt.Blobs, cp.Sha256, "application/x-tar", $"{id}-checkpoint-{cp.Step}.tar");
    }

    private static Results<FileStreamHttpResult, ProblemHttpResult> Adapter(string id, CoordinatorRuntime rt)
    {
        if (rt.Jobs.Get(id) is not { } job) return NotFound($"job {id} not found");
        if (job.AdapterSha256 is null) return NotFound($"job {job.Id} has no adapter yet (state {job.State})");
        return ArtifactsEndpoints.Blob(rt.Blobs, job.AdapterSha256, "application/x-tar", $"{job.Id}-adapter.tar");
    }

    private static Results<PushStreamHttpResult, ProblemHttpResult> Package(string id, CoordinatorRuntime rt, CancellationToken cancellationToken)
    {
        if (rt.Jobs.Get(id) is not { } job) return NotFound($"job {id} not found");
        return TypedResults.Stream(async body =>
        {
            // Built in memory: ZipArchive writes its central directory synchronously, which Kestrel does not allow on the response.
            var buffer = new MemoryStream();
            await WritePackageAsync(rt, job, buffer, cancellationToken);
            buffer.Position = 0;
            await buffer.CopyToAsync(body, cancellationToken);
        }, "application/zip", $"{job.Id}-package.zip");
    }

    /// <summary>
    /// The training package: the spec (artifact references rewritten to files beside it), the dataset (or its hash and
    /// URI when large), references to the base model, the adapter, and a README with the exact command that reproduces the run.
    /// </summary>
    public static async Task WritePackageAsync(CoordinatorRuntime rt, JobRow job, Stream output, CancellationToken cancellationToken)
    {
        const long InlineLimit = 64L << 20;
        using var zip = new ZipArchive(output, ZipArchiveMode.Create, leaveOpen: true);
        var spec = ParseJson(job.SpecJson) as JsonObject ?? [];
        PinRunSettings(rt, job, spec);
        var references = new List<string>();
        var specText = spec.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true });
        foreach (var sha in AssignmentBuilder.ArtifactRefs(job.SpecJson))
        {
            var name = ArtifactName(rt, sha);
            var size = rt.Blobs.Exists(sha) ? rt.Blobs.SizeOf(sha) : 0;
            var isModel = name.EndsWith(".tar", StringComparison.Ordinal);
            if (!isModel && size <= InlineLimit && rt.Blobs.Exists(sha))
            {
                var entry = zip.CreateEntry("data/" + name);
                await using (var to = entry.Open())
                await using (var from = rt.Blobs.OpenRead(sha))
                    await from.CopyToAsync(to, cancellationToken);
                specText = specText.Replace($"\"artifact:{sha}\"", $"\"data/{name}\"", StringComparison.Ordinal);
                references.Add($"- `data/{name}`: sha256 {sha} ({size} bytes)");
            }
            else
            {
                var folder = isModel ? "model/" + name[..^4] : "data/" + name;
                specText = specText.Replace($"\"artifact:{sha}\"", $"\"{folder}\"", StringComparison.Ordinal);
                references.Add($"- `{folder}`: {(isModel ? "unpack " : "")}artifact sha256 {sha} ({size} bytes), download: `GET /api/artifacts/{sha}`");
            }
        }
        await WriteText(zip, "job.json", specText);
        if (job.AdapterSha256 is { } adapter && rt.Blobs.Exists(adapter))
        {
            var entry = zip.CreateEntry("adapter.tar");
            await using var to = entry.Open();
            await using var from = rt.Blobs.OpenRead(adapter);
            await from.CopyToAsync(to, cancellationToken);
        }
        // the run's GGUF export (job spec "export": {"gguf": ...}), uploaded by the agent as gguf.tar
        var ggufSha = Store.ArtifactRows.LatestOfJob(rt.Store, job.Id, "gguf.tar");
        if (ggufSha is not null && rt.Blobs.Exists(ggufSha))
        {
            var entry = zip.CreateEntry("gguf.tar");
            await using var to = entry.Open();
            await using var from = rt.Blobs.OpenRead(ggufSha);
            await from.CopyToAsync(to, cancellationToken);
        }
        var readme = $"""
            # Training package of {job.Name} ({job.Id})

            State: {job.State}{(job.StopReason is null ? "" : $" ({job.StopReason})")}. Created {job.CreatedAt}.

            ## Reproduce the run

            ```
            ftl-train train --config job.json --out out
            ```

            `job.json` is the exact spec the run used; paths are relative to this folder. It pins the device and the
            thread count the run had (the CPU kernels split their sums by thread), so with the same seed the command
            gives the adapter below bit for bit on a machine with the same kind of device.

            ## Inputs
            {string.Join("\n", references)}

            ## Outputs
            {(job.AdapterSha256 is null ? "No adapter (the run did not complete)." : $"- `adapter.tar`: the final adapter (PEFT layout), sha256 {job.AdapterSha256}")}
            {(ggufSha is null ? "" : $"- `gguf.tar`: the merged model as GGUF with an Ollama Modelfile (llama.cpp: `llama-cli -m model-*.gguf`; Ollama: `ollama create NAME -f Modelfile`), sha256 {ggufSha}")}
            """;
        await WriteText(zip, "README.md", readme);
    }

    /// <summary>
    /// Writes into the spec what the run decided for itself and its result depends on: the device and the thread count
    /// the trainer reported in its first start event (a spec leaving them to the machine would reproduce only on an
    /// identical one).
    /// </summary>
    private static void PinRunSettings(CoordinatorRuntime rt, JobRow job, JsonObject spec)
    {
        if (JobEvents.First<FineTuneLab.Events.StartEvent>(rt.Store, job.Id) is not { } start) return;
        if (start.Device is "cpu" or "cuda") spec["device"] = start.Device;
        if (start.Threads > 0) spec["threads"] = start.Threads;
    }

    private static string ArtifactName(CoordinatorRuntime rt, string sha)
    {
        return Store.ArtifactRows.Find(rt.Store, sha)?.Name ?? sha;
    }

    private static async Task WriteText(ZipArchive zip, string name, string text)
    {
        await using var writer = new StreamWriter(zip.CreateEntry(name).Open());
        await writer.WriteAsync(text);
    }
}
