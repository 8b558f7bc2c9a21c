using System.Text.Json;
using System.Text.Json.Nodes;
using FineTuneLab.Agent.Artifacts;
using FineTuneLab.Shared.Jobs;
using FineTuneLab.Shared.Protos.Agent.V1;

namespace FineTuneLab.Agent.Jobs;

/// <summary>
/// A job's folder before the trainer starts: every artifact of the assignment fetched (tar folders extracted), the
/// spec's <c>artifact:</c> references rewritten to the local paths, and <c>job.json</c> written (temp file + rename).
/// </summary>
public static class JobWorkspace
{
    /// <summary>Answers the config path and the local resume checkpoint, if the assignment names one.</summary>
    public static async Task<(string Config, string? Resume)> PrepareAsync(JobAssignment assignment, string dir, string device,
        ArtifactClient artifacts, CancellationToken cancellationToken)
    {
        var local = new Dictionary<string, string>(StringComparer.Ordinal);
        string? resume = null;
        foreach (var a in assignment.Artifacts)
        {
            var file = await artifacts.FetchAsync(a.Sha256, cancellationToken);
            var path = file;
            if (a.Name.EndsWith(".tar", StringComparison.Ordinal))
            {
                path = file + ".d";
                await TarFolder.ExtractAsync(file, path, cancellationToken);
            }
            if (a.Sha256 == assignment.ResumeCheckpoint) resume = path;
            local[a.Sha256] = path;
        }
        var spec = JsonNode.Parse(assignment.SpecJson, documentOptions: new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true })!;
        spec = SpecArtifacts.Rewrite(spec, sha => local.TryGetValue(sha, out var path) ? path
            : throw new InvalidDataException($"spec refers to {SpecArtifacts.Prefix}{sha}, which the assignment does not carry"));
        if (device != "auto" && spec is JsonObject o) o["device"] = device;
        var config = Path.Combine(dir, "job.json");
        await File.WriteAllTextAsync(config + ".tmp", spec.ToJsonString(new JsonSerializerOptions { WriteIndented = true }), cancellationToken);
        File.Move(config + ".tmp", config, overwrite: true);
        return (config, resume);
    }
}
