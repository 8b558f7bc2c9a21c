using System.Text.Json.Nodes;
using FineTuneLab.TestSupport;

namespace FineTuneLab.EndToEnd.Tests.ControlPlane;

/// <summary>A fact that is skipped, with the reason, while a repository file it needs does not exist yet.</summary>
public sealed class FactRequiringFileAttribute : FactAttribute
{
    public FactRequiringFileAttribute(string relativePath)
    {
        if (!File.Exists(Path.Combine(RepoPaths.Root, relativePath)))
            Skip = $"{relativePath} does not exist yet (the trainer's sample job); this test runs once it lands";
    }
}

/// <summary>The real <c>ftl-train train</c> under a real agent and coordinator, on the sample job.</summary>
[Collection(RealTrainerCollection.Name)]
public sealed class RealTrainerTests
{
    [FactRequiringFile("samples/jobs/tiny-lora.json")]
    public async Task The_sample_job_trains_with_the_real_trainer_to_succeeded()
    {
        await using var cluster = new ControlPlaneCluster(Path.Combine(RepoPaths.Scripts, "ftl-train"));
        await cluster.StartCoordinatorAsync();
        await cluster.StartAgentAsync("cpu");
        var specPath = Path.Combine(RepoPaths.Root, "samples", "jobs", "tiny-lora.json");
        var spec = (JsonNode.Parse(await File.ReadAllTextAsync(specPath), documentOptions: new System.Text.Json.JsonDocumentOptions
            { CommentHandling = System.Text.Json.JsonCommentHandling.Skip, AllowTrailingCommas = true }) as JsonObject)!;
        // Relative paths in the sample are relative to its folder: the agent gets absolute ones.
        string Abs(string p) => Path.IsPathRooted(p) ? p : Path.GetFullPath(Path.Combine(Path.GetDirectoryName(specPath)!, p));
        spec["model"]!["path"] = Abs(spec["model"]!["path"]!.GetValue<string>());
        spec["data"]!["train"] = Abs(spec["data"]!["train"]!.GetValue<string>());
        if (spec["data"]!["validation"] is JsonValue v) spec["data"]!["validation"] = Abs(v.GetValue<string>());

        var id = await cluster.SubmitAsync(new JsonObject { ["name"] = "tiny-lora", ["spec"] = spec, ["resources"] = new JsonObject { ["device"] = "cpu" } });
        var done = await cluster.WaitForStateAsync(id, "succeeded", TimeSpan.FromMinutes(5));
        var csv = (await cluster.Http.GetStringAsync($"/api/jobs/{id}/metrics?format=csv")).TrimEnd('\n').Split('\n');
        Assert.Equal(done["progress"]!["total_steps"]!.GetValue<int>(), csv.Length - 1);
        Assert.NotNull(done["adapter_sha256"]?.GetValue<string>());
    }
}

/// <summary>Tests that run real trainers under a real cluster: one at a time, alone, so a 2-core machine keeps their timings sane.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class RealTrainerCollection
{
    public const string Name = "real trainer clusters";
}
