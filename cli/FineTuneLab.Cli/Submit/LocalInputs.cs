using System.Text.Json.Nodes;

namespace FineTuneLab.Cli.Submit;

/// <summary>
/// The spec's inputs that live on this machine: <c>model.path</c> (a model folder), <c>data.train</c> and
/// <c>data.validation</c> (files). <c>artifact:</c> references and URIs are left alone, and so is an absolute path that
/// does not exist here (it names a path on the node, docs/api.md); a relative path that does not exist is an error.
/// </summary>
public static class LocalInputs
{
    public sealed record Input(string Field, string Kind, string LocalPath, bool IsFolder, Action<string> Replace);

    private static readonly (string Section, string Key, string Kind)[] Fields =
        [("model", "path", "model"), ("data", "train", "dataset"), ("data", "validation", "dataset")];

    public static List<Input> Find(JobFile job, List<string> notes)
    {
        var found = new List<Input>();
        foreach (var (section, key, kind) in Fields)
        {
            if (job.Spec[section] is not JsonObject parent || parent[key] is not JsonValue v || !v.TryGetValue<string>(out var value)) continue;
            var field = $"{section}.{key}";
            if (value.StartsWith("artifact:", StringComparison.Ordinal) || value.Contains("://", StringComparison.Ordinal)) continue;
            var full = Path.GetFullPath(Path.Combine(job.Folder, value));
            var isFolder = Directory.Exists(full);
            if (!isFolder && !File.Exists(full))
            {
                if (Path.IsPathRooted(value)) { notes.Add($"{field}: {value} is not on this machine; left as a path on the node"); continue; }
                throw new UsageException($"{job.Path}: {field}: {value} (resolved to {full}) does not exist");
            }
            if (kind == "model" && !isFolder) throw new UsageException($"{job.Path}: {field}: {full} is a file; a model is a Hugging Face folder");
            if (kind == "dataset" && isFolder) throw new UsageException($"{job.Path}: {field}: {full} is a folder; the trainer reads a JSONL file");
            found.Add(new Input(field, kind, full, isFolder, reference => parent[key] = reference));
        }
        return found;
    }
}
