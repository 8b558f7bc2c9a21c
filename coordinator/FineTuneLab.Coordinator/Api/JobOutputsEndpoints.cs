using System.IO.Compression;
using System.Text.Json.Nodes;
using FineTuneLab.Coordinator.Jobs;
using static FineTuneLab.Coordinator.Api.ApiSupport;

namespace FineTuneLab.Coordinator.Api;

/// <summary>What a job produced: checkpoints (list, download), the final adapter, and the training package zip.</summary>
public static class JobOutputsEndpoints
{
    public static void MapJobOutputs(this IEndpointRouteBuilder endpoints, Func<CoordinatorRuntime?> runtime)
    {
        endpoints.MapGet("/api/jobs/{id}/checkpoints", With(runtime, async (http, rt) =>
        {
            if (rt.Jobs.Get(RouteId(http)) is not { } job) { await Error(http, 404, $"job {RouteId(http)} not found"); return; }
            // Each checkpoint with the metrics of its step (loss, eval, the spend so far), as the metrics feed has them.
            var rows = JobFeedsEndpoints.MetricRows(rt, job).ToDictionary(r => r["step"]!.GetValue<long>());
            var list = rt.Jobs.Checkpoints(job.Id).Select(c => (JsonNode)new JsonObject
            {
                ["step"] = c.Step, ["sha256"] = c.Sha256, ["bytes"] = c.Bytes, ["created_at"] = c.CreatedAt,
                ["metrics"] = rows.TryGetValue(c.Step, out var m)
                    ? new JsonObject { ["loss"] = m["loss"]?.DeepClone(), ["eval_loss"] = m["eval_loss"]?.DeepClone(), ["token_accuracy"] = m["token_accuracy"]?.DeepClone(), ["cost_usd"] = m["cost_usd"]?.DeepClone() }
                    : null,
            }).ToArray();
            await Write(http, new JsonArray(list));
        }));
        endpoints.MapGet("/api/jobs/{id}/checkpoints/{step}", With(runtime, async (http, rt) =>
        {
            var id = RouteId(http);
            var cp = rt.Jobs.Checkpoints(id).FirstOrDefault(c => c.Step.ToString(System.Globalization.CultureInfo.InvariantCulture) == RouteId(http, "step"));
            if (cp is null) { await Error(http, 404, $"job {id} has no checkpoint at step {RouteId(http, "step")}"); return; }
            await ArtifactsEndpoints.SendBlob(http, rt, cp.Sha256, "application/x-tar", $"{id}-checkpoint-{cp.Step}.tar");
        }));
        endpoints.MapGet("/api/jobs/{id}/adapter", With(runtime, async (http, rt) =>
        {
            if (rt.Jobs.Get(RouteId(http)) is not { } job) { await Error(http, 404, $"job {RouteId(http)} not found"); return; }
            if (job.AdapterSha256 is null) { await Error(http, 404, $"job {job.Id} has no adapter yet (state {job.State})"); return; }
            await ArtifactsEndpoints.SendBlob(http, rt, job.AdapterSha256, "application/x-tar", $"{job.Id}-adapter.tar");
        }));
        endpoints.MapGet("/api/jobs/{id}/package", With(runtime, async (http, rt) =>
        {
            if (rt.Jobs.Get(RouteId(http)) is not { } job) { await Error(http, 404, $"job {RouteId(http)} not found"); return; }
            http.Response.ContentType = "application/zip";
            http.Response.Headers.ContentDisposition = $"attachment; filename=\"{job.Id}-package.zip\"";
            var buffer = new MemoryStream();
            await WritePackageAsync(rt, job, buffer, http.RequestAborted);
            buffer.Position = 0;
            await buffer.CopyToAsync(http.Response.Body, http.RequestAborted);
        }));
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
        string? ggufSha;
        using (var c = rt.Store.OpenConnection())
            ggufSha = Store.Sql.Scalar(c, "SELECT sha256 FROM artifacts WHERE job_id = $j AND name = 'gguf.tar' ORDER BY created_at DESC LIMIT 1", ("$j", job.Id)) as string;
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
        string? startJson;
        using (var c = rt.Store.OpenConnection())
            startJson = Store.Sql.Scalar(c, "SELECT json FROM events WHERE job_id = $j AND type = 'start' ORDER BY ingest_id LIMIT 1", ("$j", job.Id)) as string;
        if (startJson is null || ParseJson(startJson) is not JsonObject start) return;
        if (start["device"] is JsonValue device && device.TryGetValue<string>(out var d) && d is "cpu" or "cuda") spec["device"] = d;
        if (start["threads"] is JsonValue threads && threads.TryGetValue<int>(out var t) && t > 0) spec["threads"] = t;
    }

    private static string ArtifactName(CoordinatorRuntime rt, string sha)
    {
        using var c = rt.Store.OpenConnection();
        return Store.Sql.Scalar(c, "SELECT name FROM artifacts WHERE sha256 = $h LIMIT 1", ("$h", sha)) as string ?? sha;
    }

    private static async Task WriteText(ZipArchive zip, string name, string text)
    {
        await using var writer = new StreamWriter(zip.CreateEntry(name).Open());
        await writer.WriteAsync(text);
    }
}
