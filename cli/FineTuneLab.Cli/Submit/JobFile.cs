using System.Text.Json;
using System.Text.Json.Nodes;

namespace FineTuneLab.Cli.Submit;

/// <summary>
/// A job file as <c>ftl submit</c> reads it: either a trainer spec (docs/job-spec.md; comments and trailing commas
/// allowed) or a whole <c>POST /api/jobs</c> body (an object with a <c>spec</c>). Relative paths in the spec are
/// relative to the file's folder, as for <c>ftl-train</c>.
/// </summary>
public sealed record JobFile(string Path, string Folder, JsonObject Body)
{
    public JsonObject Spec => (JsonObject)Body["spec"]!;

    public static JobFile Load(string path)
    {
        var full = System.IO.Path.GetFullPath(path);
        string text;
        try
        {
            text = File.ReadAllText(full);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new UsageException($"{path}: {e.Message}");
        }
        JsonNode? root;
        try
        {
            root = JsonNode.Parse(text, documentOptions: new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
        }
        catch (JsonException e)
        {
            throw new UsageException($"{path}: not valid JSON: {e.Message}");
        }
        if (root is not JsonObject o) throw new UsageException($"{path}: the job file must be a JSON object (a job spec, or a POST /api/jobs body with a \"spec\")");
        JsonObject body;
        if (o["spec"] is JsonObject)
            body = o;
        else if (o.ContainsKey("spec"))
            throw new UsageException($"{path}: \"spec\" must be an object (the trainer's job spec)");
        else
            body = new JsonObject { ["name"] = o["name"]?.DeepClone() ?? System.IO.Path.GetFileNameWithoutExtension(full), ["spec"] = o };
        return new JobFile(full, System.IO.Path.GetDirectoryName(full)!, body);
    }

    /// <summary>The submission's settings from the command line, over those of the file.</summary>
    public void Apply(SubmitSettings s)
    {
        if (s.Name is not null) Body["name"] = s.Name;
        if (s.Project is not null) Body["project"] = s.Project;
        if (s.Priority is not null) Body["priority"] = s.Priority;
        if (s.BudgetUsd is not null || s.MaxHours is not null)
        {
            var budget = Body["budget"] as JsonObject ?? new JsonObject();
            if (s.BudgetUsd is not null) budget["max_usd"] = s.BudgetUsd;
            if (s.MaxHours is not null) budget["max_hours"] = s.MaxHours;
            Body["budget"] = budget;
        }
        var resources = Body["resources"] as JsonObject ?? new JsonObject();
        if (s.Device is not null) resources["device"] = s.Device;
        if (s.GpuKinds.Count > 0) resources["gpu_kinds"] = new JsonArray(s.GpuKinds.Select(k => (JsonNode)k).ToArray());
        if (s.MaxPricePerHour is not null) resources["max_price_per_hour"] = s.MaxPricePerHour;
        if (s.MinGpuMemoryGb is not null) resources["min_gpu_memory_gb"] = s.MinGpuMemoryGb;
        Body["resources"] = resources;
    }
}

/// <summary>What <c>ftl submit</c>'s options set on the <c>POST /api/jobs</c> body (null: leave the file's value).</summary>
public sealed record SubmitSettings(string? Name, string? Project, int? Priority, double? BudgetUsd, double? MaxHours, string? Device,
    IReadOnlyList<string> GpuKinds, double? MaxPricePerHour, double? MinGpuMemoryGb);
