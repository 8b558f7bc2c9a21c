using System.Text.Json;
using System.Text.Json.Nodes;

namespace FineTuneLab.Cli.Tests;

/// <summary><c>ftl compare</c> and <c>ftl status</c>'s exit codes, against the real cluster's finished job and a variant of it.</summary>
[Collection(CliCollection.Name)]
public sealed class FtlCompareTests(CliCluster cli)
{
    [Fact]
    public async Task Compare_lines_up_two_runs_and_shows_the_settings_that_differ()
    {
        // A variant with another rank, held in the queue by a GPU kind no agent has, so that it never runs.
        var spec = JsonNode.Parse(File.ReadAllText(cli.JobFile), documentOptions: new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip })!.AsObject();
        spec["lora"]!["r"] = 4;
        spec["name"] = "cli-tiny-r4";
        var variantFile = Path.Combine(Path.GetDirectoryName(cli.JobFile)!, "tiny-r4.json");
        File.WriteAllText(variantFile, spec.ToJsonString());
        var submitted = await cli.Ftl.RunAsync(["submit", variantFile, "--yes", "--json", "--gpu", "H100", "--project", "cli-compare"], cli.Ftl.Environment(), cli.Dir);
        Assert.True(submitted.ExitCode == 0, submitted.StdErr + submitted.StdOut);
        var variant = JsonNode.Parse(submitted.StdOut)!["id"]!.GetValue<string>();
        try
        {
            var r = await cli.Ftl.RunAsync("compare", cli.JobId, variant, "--json");
            Assert.True(r.ExitCode == 0, r.StdErr + r.StdOut);
            var answer = JsonNode.Parse(r.StdOut)!;
            var jobs = answer["jobs"]!.AsArray();
            Assert.Equal([cli.JobId, variant], jobs.Select(j => j!["id"]!.GetValue<string>()));
            Assert.Equal(["succeeded", "queued"], jobs.Select(j => j!["state"]!.GetValue<string>()));

            // The finished run's figures are its metrics'.
            var metrics = (await cli.Cluster.GetJsonAsync($"/api/jobs/{cli.JobId}/metrics?format=json"))["rows"]!.AsArray();
            var evals = metrics.Where(m => m!["eval_loss"] is JsonValue).Select(m => m!["eval_loss"]!.GetValue<double>()).ToList();
            Assert.Equal(metrics.Last()!["loss"]!.GetValue<double>(), jobs[0]!["final_loss"]!.GetValue<double>());
            Assert.Equal(evals.Min(), jobs[0]!["best_eval_loss"]!.GetValue<double>());
            Assert.Null(jobs[1]!["final_loss"]);
            Assert.Empty(answer["eval_loss"]!.AsArray()); // the queued run has no evaluations to share

            var settings = answer["settings"]!.AsArray().ToDictionary(s => s!["path"]!.GetValue<string>(), s => s!["values"]!.AsArray().Select(v => v?.GetValue<string>()).ToList());
            Assert.Equal(["8", "4"], settings["spec.lora.r"]);
            Assert.Equal(["cli-tiny", "cli-tiny-r4"], settings["spec.name"]);
            Assert.Contains("resources.gpu_kinds", settings.Keys);
            Assert.DoesNotContain("spec.max_seq_len", settings.Keys); // the same in both: shown only with --all
            var all = JsonNode.Parse((await cli.Ftl.RunAsync("compare", cli.JobId, variant, "--all", "--json")).StdOut)!["settings"]!.AsArray();
            Assert.Contains(all, s => s!["path"]!.GetValue<string>() == "spec.max_seq_len" && !s["differs"]!.GetValue<bool>());

            var table = await cli.Ftl.RunAsync("compare", cli.JobId, variant);
            Assert.True(table.ExitCode == 0, table.StdErr);
            Assert.Contains("spec.lora.r", table.StdOut);
            Assert.Contains("best eval loss", table.StdOut);

            Assert.Equal(2, (await cli.Ftl.RunAsync("compare", cli.JobId)).ExitCode); // one job is bad usage
            Assert.Equal(1, (await cli.Ftl.RunAsync("compare", cli.JobId, "job_missing")).ExitCode); // the API's 404

            Assert.Equal(0, (await cli.Ftl.RunAsync("status", variant)).ExitCode); // queued: not ended
        }
        finally
        {
            Assert.Equal(0, (await cli.Ftl.RunAsync("cancel", variant)).ExitCode);
        }
        Assert.Equal(1, (await cli.Ftl.RunAsync("status", variant, "--json")).ExitCode); // cancelled: ended other than succeeded
        Assert.Equal(0, (await cli.Ftl.RunAsync("status", cli.JobId)).ExitCode);
    }
}
