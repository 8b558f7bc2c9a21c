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
        await ControlPlaneCluster.BuildRealTrainerAsync();
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
        // A few steps prove the control plane around the real trainer; the sample's two full epochs only made the
        // test's duration swing with the machine's load (it once ran past its wait on a busy machine).
        spec.Remove("epochs");
        spec["max_steps"] = 6;
        spec["eval"] = new JsonObject { ["every_steps"] = 3 };
        spec["checkpoint"] = new JsonObject { ["every_steps"] = 3, ["keep_last"] = 1 };

        var id = await cluster.SubmitAsync(new JsonObject { ["name"] = "tiny-lora", ["spec"] = spec, ["resources"] = new JsonObject { ["device"] = "cpu" } });
        var done = await cluster.WaitForStateAsync(id, "succeeded", TimeSpan.FromMinutes(5));
        Assert.Equal(6, done["progress"]!["total_steps"]!.GetValue<int>());
        var csv = (await cluster.Http.GetStringAsync($"/api/jobs/{id}/metrics?format=csv")).TrimEnd('\n').Split('\n');
        Assert.Equal(done["progress"]!["total_steps"]!.GetValue<int>(), csv.Length - 1);
        Assert.NotNull(done["adapter_sha256"]?.GetValue<string>());

        // A step carries no cost of the agent's: the one cost is the coordinator's projection, which gives each step's
        // spend in the metrics rows (the spend before the run plus the frozen price over the trainer's elapsed time).
        var steps = (await cluster.GetJsonAsync($"/api/jobs/{id}/events?type=step"))["events"]!.AsArray();
        Assert.Equal(6, steps.Count);
        Assert.All(steps, e => Assert.Null(e!["data"]!["cost"]));
        var rows = (await cluster.GetJsonAsync($"/api/jobs/{id}/metrics"))["rows"]!.AsArray();
        var spent = rows.Select(r => r!["cost_usd"]!.GetValue<double>()).ToList();
        Assert.Equal(6, spent.Count);
        Assert.True(spent[0] > 0 && spent.Zip(spent.Skip(1)).All(p => p.First <= p.Second), $"spend must grow: {string.Join(", ", spent)}");
        Assert.True(spent[^1] <= done["cost"]!["spent_usd"]!.GetValue<double>() + 1e-9, "a step's spend cannot exceed the job's final spend");
    }
}

/// <summary>Tests that run real trainers under a real cluster: one at a time, alone, so a 2-core machine keeps their timings sane.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class RealTrainerCollection
{
    public const string Name = "real trainer clusters";
}
