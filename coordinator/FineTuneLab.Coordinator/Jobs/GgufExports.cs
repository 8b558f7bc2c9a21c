using System.Collections.Concurrent;
using System.Text.Json.Nodes;
using FineTuneLab.Coordinator.Store;
using Microsoft.Extensions.Logging;

namespace FineTuneLab.Coordinator.Jobs;

/// <summary>
/// A finished job's GGUF on request (<c>GET /api/jobs/{id}/export</c>): built once per (job, format, quant) by
/// <see cref="GgufExportBuilder"/> in the background, then kept as the job's artifacts (<c>export/model-QUANT.gguf</c>
/// and its <c>export/Modelfile-QUANT</c>, or <c>export/adapter.gguf</c>) and served from the blob store like any
/// other. A job's adapter never changes once it succeeded, so what was built stays right.
/// </summary>
public sealed class GgufExports(CoordinatorRuntime rt, GgufExportBuilder builder, ILogger<GgufExports> log)
{
    public static readonly string[] Formats = ["gguf", "gguf-lora"];
    public static readonly string[] Quants = ["f32", "f16", "bf16", "q8_0", "q4_k_m"];

    private readonly ConcurrentDictionary<string, Task> _building = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, string> _failed = new(StringComparer.Ordinal);

    public abstract record Outcome;
    public sealed record Ready(string Sha256, string FileName) : Outcome;
    public sealed record Building : Outcome;
    public sealed record Failed(string Reason) : Outcome;
    public sealed record Unavailable(string Reason) : Outcome;

    /// <summary>The name the GGUF is kept (and downloaded) under: the Modelfile's FROM line names it.</summary>
    public static string FileName(string format, string quant) => format == "gguf" ? $"model-{quant}.gguf" : "adapter.gguf";

    public static string ModelfileName(string quant) => $"Modelfile-{quant}";

    public Outcome Get(JobRow job, string format, string quant)
    {
        var name = FileName(format, quant);
        if (ArtifactRows.LatestOfJob(rt.Store, job.Id, "export/" + name) is { } sha && rt.Blobs.Exists(sha)) return new Ready(sha, name);
        var key = $"{job.Id}/{name}";
        if (_failed.TryGetValue(key, out var reason)) return new Failed(reason);
        if (job.State != JobStates.Succeeded || job.AdapterSha256 is null)
            return new Unavailable($"job {job.Id} has no final adapter to export (state {job.State})");
        var model = JsonNode.Parse(job.SpecJson)?["model"]?["path"]?.GetValue<string>();
        if (model is null || !model.StartsWith(AssignmentBuilder.ArtifactPrefix, StringComparison.Ordinal) || !rt.Blobs.Exists(model[AssignmentBuilder.ArtifactPrefix.Length..]))
            return new Unavailable($"the job's base model ({model ?? "none"}) is not on the coordinator, only on its node: export there with " +
                "`ftl-train export --format gguf`, or ask the run for it with \"export\": {\"gguf\": QUANT} in the job spec");
        _building.GetOrAdd(key, _ => Task.Run(() => BuildAsync(job, model[AssignmentBuilder.ArtifactPrefix.Length..], format, quant, key)));
        return new Building();
    }

    private async Task BuildAsync(JobRow job, string modelSha, string format, string quant, string key)
    {
        try
        {
            log.LogInformation("job {Job}: building {Format} {Quant}", job.Id, format, quant);
            using var built = await builder.BuildAsync(rt.Blobs.PathOf(modelSha), ModelName(modelSha), rt.Blobs.PathOf(job.AdapterSha256!), format, quant,
                CancellationToken.None);
            if (built.Modelfile is { } modelfile) await StoreAsync(job, modelfile, "export/" + ModelfileName(quant), "modelfile");
            await StoreAsync(job, built.Gguf, "export/" + FileName(format, quant), "gguf");
            log.LogInformation("job {Job}: {Format} {Quant} built", job.Id, format, quant);
        }
        catch (Exception e)
        {
            log.LogWarning(e, "job {Job}: {Format} {Quant} export failed", job.Id, format, quant);
            _failed[key] = e is GgufExportBuilder.BuildFailed ? e.Message : $"{e.GetType().Name}: {e.Message}";
        }
        finally
        {
            _building.TryRemove(key, out _);
        }
    }

    /// <summary>"tiny" for a model uploaded as tiny.tar; "model" when its name is unknown or not a plain file name.</summary>
    private string ModelName(string sha)
    {
        var name = ArtifactRows.Find(rt.Store, sha)?.Name is { } n ? Path.GetFileNameWithoutExtension(n) : "";
        return name.Length is > 0 and <= 100 && name.All(c => char.IsLetterOrDigit(c) || c is '-' or '_' or '.') && name != ".." ? name : "model";
    }

    private async Task StoreAsync(JobRow job, string file, string name, string kind)
    {
        await using var stream = File.OpenRead(file);
        var (sha, size) = await rt.Blobs.PutAsync(stream, CancellationToken.None);
        rt.RecordArtifact(sha, job.Id, name, kind, size);
    }

    /// <summary>The Modelfile built with the merged GGUF of <paramref name="quant"/>, if it was.</summary>
    public string? ModelfileSha(JobRow job, string quant) => ArtifactRows.LatestOfJob(rt.Store, job.Id, "export/" + ModelfileName(quant));
}
