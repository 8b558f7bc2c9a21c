using System.Formats.Tar;
using System.Text.Json.Nodes;

namespace FineTuneLab.Coordinator.Jobs;

/// <summary>
/// Builds a finished job's GGUF on the coordinator (<c>GET /api/jobs/{id}/export</c>): the base model's tar and the
/// job's adapter tar are unpacked into a work folder and <c>ftl-train export --format gguf|gguf-lora</c> runs on them,
/// so the merge is the trainer's one merge (a QLoRA adapter, marked by its <c>base_quantization.json</c>, merges into
/// the NF4-rounded base it trained against). One build at a time: a build holds a whole model in memory.
/// </summary>
public sealed class GgufExportBuilder(IReadOnlyList<string> trainerCommand, string workRoot)
{
    private readonly SemaphoreSlim _one = new(1, 1);

    /// <summary>The built files: the GGUF, and for a merged model its Ollama Modelfile.</summary>
    public sealed record Built(string Gguf, string? Modelfile, string WorkDir) : IDisposable
    {
        public void Dispose()
        {
            if (Directory.Exists(WorkDir)) Directory.Delete(WorkDir, recursive: true);
        }
    }

    public sealed class BuildFailed(string message) : Exception(message);

    /// <param name="format"><c>gguf</c> (the merged model) or <c>gguf-lora</c> (the adapter alone).</param>
    /// <param name="modelName">The base model's folder name (the GGUF's general.name): its artifact's name without .tar.</param>
    public async Task<Built> BuildAsync(string modelTar, string modelName, string adapterTar, string format, string quant, CancellationToken cancellationToken)
    {
        await _one.WaitAsync(cancellationToken);
        var work = Path.Combine(workRoot, $"export-{Guid.NewGuid():N}");
        try
        {
            var model = Path.Combine(work, "base", modelName);
            var adapter = Path.Combine(work, "adapter");
            Directory.CreateDirectory(model);
            Directory.CreateDirectory(adapter);
            await TarFile.ExtractToDirectoryAsync(modelTar, model, overwriteFiles: false, cancellationToken);
            await TarFile.ExtractToDirectoryAsync(adapterTar, adapter, overwriteFiles: false, cancellationToken);
            var output = Path.Combine(work, "out");
            List<string> args = ["export", "--model", model, "--adapter", adapter, "--out", output, "--format", format];
            if (format == "gguf") args.AddRange(["--quant", quant]);
            var run = await TrainerProcess.RunAsync(trainerCommand, args, cancellationToken);
            if (run.ExitCode != 0)
                throw new BuildFailed((run.Stderr + run.Stdout).Replace(work + Path.DirectorySeparatorChar, "", StringComparison.Ordinal).Trim());
            var report = JsonNode.Parse(run.Stdout.Trim().Split('\n')[^1]) ?? throw new BuildFailed("ftl-train export printed no report");
            var gguf = report["file"]?.GetValue<string>() ?? throw new BuildFailed($"ftl-train export reported no file: {report.ToJsonString()}");
            return new Built(gguf, report["modelfile"]?.GetValue<string>(), work);
        }
        catch
        {
            if (Directory.Exists(work)) Directory.Delete(work, recursive: true);
            throw;
        }
        finally
        {
            _one.Release();
        }
    }
}
