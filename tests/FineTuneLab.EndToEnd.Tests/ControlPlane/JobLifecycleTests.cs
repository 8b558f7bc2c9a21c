using System.IO.Compression;
using System.Security.Cryptography;
using System.Text.Json.Nodes;

namespace FineTuneLab.EndToEnd.Tests.ControlPlane;

/// <summary>A coordinator and two agents as real processes: jobs succeed, wait for a fitting node, or fail with the trainer's stack trace.</summary>
public sealed class JobLifecycleTests
{
    [Fact]
    public async Task Jobs_run_on_two_agents_to_the_end_with_metrics_checkpoints_and_package()
    {
        await using var cluster = new ControlPlaneCluster();
        await cluster.StartCoordinatorAsync();
        await cluster.StartAgentAsync("cheap", pricePerHour: 0.5);
        await cluster.StartAgentAsync("dear", pricePerHour: 2.0);
        var (model, data) = await cluster.UploadSampleInputsAsync();

        // Neither agent has a GPU: this one waits, and says why.
        var gpuJob = await cluster.SubmitAsync(ControlPlaneCluster.Job("needs-gpu", model, data, 5, 0, resources: new JsonObject { ["device"] = "cuda" }));
        var ok = await cluster.SubmitAsync(ControlPlaneCluster.Job("ok", model, data, 12, 5));
        var crash = await cluster.SubmitAsync(ControlPlaneCluster.Job("crash", model, data, 12, 0, new JsonObject { ["fake_crash_at"] = 4 }));

        var done = await cluster.WaitForStateAsync(ok, "succeeded", TimeSpan.FromMinutes(1));
        Assert.Equal("completed", done["stop_reason"]!.GetValue<string>());
        Assert.Equal(12, done["progress"]!["step"]!.GetValue<int>());
        Assert.True(done["cost"]!["spent_usd"]!.GetValue<double>() > 0, done.ToJsonString());
        Assert.NotNull(done["adapter_sha256"]?.GetValue<string>());

        var csv = (await cluster.Http.GetStringAsync($"/api/jobs/{ok}/metrics?format=csv")).TrimEnd('\n').Split('\n');
        Assert.Equal("step,epoch,loss,lr,grad_norm,tokens_per_s,samples_per_s,eval_loss,token_accuracy,elapsed_s,cost_usd", csv[0]);
        Assert.Equal(Enumerable.Range(1, 12).Select(i => i.ToString()), csv.Skip(1).Select(l => l.Split(',')[0]));

        var checkpoints = (await cluster.GetJsonAsync($"/api/jobs/{ok}/checkpoints")).AsArray();
        Assert.Equal([5L, 10L], checkpoints.Select(c => c!["step"]!.GetValue<long>()));
        var tar = await cluster.Http.GetByteArrayAsync($"/api/jobs/{ok}/checkpoints/10");
        Assert.Equal(checkpoints[1]!["sha256"]!.GetValue<string>(), Convert.ToHexStringLower(SHA256.HashData(tar)));
        Assert.Contains("manifest.json", await TarNamesAsync(tar));
        Assert.Contains("adapter_config.json", await TarNamesAsync(await cluster.Http.GetByteArrayAsync($"/api/jobs/{ok}/adapter")));

        using (var zip = new ZipArchive(new MemoryStream(await cluster.Http.GetByteArrayAsync($"/api/jobs/{ok}/package"))))
        {
            var spec = JsonNode.Parse(await new StreamReader(zip.GetEntry("job.json")!.Open()).ReadToEndAsync())!;
            Assert.Equal(12, spec["max_steps"]!.GetValue<int>());
            Assert.Equal("data/train.jsonl", spec["data"]!["train"]!.GetValue<string>());
            Assert.NotNull(zip.GetEntry("data/train.jsonl"));
            Assert.Contains("ftl-train train --config job.json", await new StreamReader(zip.GetEntry("README.md")!.Open()).ReadToEndAsync());
        }

        var failed = await cluster.WaitForStateAsync(crash, "failed", TimeSpan.FromMinutes(1));
        Assert.Equal("fake failure at step 4", failed["error"]!["message"]!.GetValue<string>());
        Assert.Contains("RuntimeError", failed["error"]!["stack_trace"]!.GetValue<string>());
        Assert.Contains("fake-trainer.py", failed["error"]!["stack_trace"]!.GetValue<string>());
        Assert.Equal(3, failed["error"]!["exit_code"]!.GetValue<int>());

        var waiting = await cluster.GetJsonAsync($"/api/jobs/{gpuJob}");
        Assert.Equal("queued", waiting["state"]!.GetValue<string>());
        Assert.Contains("GPU", waiting["waiting_reason"]!.GetValue<string>());

        var metrics = await cluster.Http.GetStringAsync("/metrics");
        Assert.Contains("ftl_jobs{state=\"succeeded\"} 1", metrics);
        Assert.Contains("/api/jobs/{id}/package", await cluster.Http.GetStringAsync("/openapi.json"));
    }

    [Fact]
    public async Task A_stopped_job_resumes_from_its_last_checkpoint()
    {
        await using var cluster = new ControlPlaneCluster();
        await cluster.StartCoordinatorAsync();
        await cluster.StartAgentAsync("a1");
        var (model, data) = await cluster.UploadSampleInputsAsync();
        var id = await cluster.SubmitAsync(ControlPlaneCluster.Job("stop-resume", model, data, 40, 0));
        await ControlPlaneCluster.WaitUntilAsync(async () => (await cluster.GetJsonAsync($"/api/jobs/{id}"))["progress"]?["step"]?.GetValue<int>() >= 5,
            TimeSpan.FromMinutes(1), cluster.Logs);
        Assert.Equal(System.Net.HttpStatusCode.Accepted, (await cluster.Http.PostAsync($"/api/jobs/{id}/stop", null)).StatusCode);
        var stopped = await cluster.WaitForStateAsync(id, "stopped", TimeSpan.FromMinutes(1));
        Assert.Equal("user", stopped["stop_reason"]!.GetValue<string>());
        var at = stopped["last_checkpoint"]!["step"]!.GetValue<int>();
        Assert.True(at is >= 5 and < 40, stopped.ToJsonString());

        await cluster.Http.PostAsync($"/api/jobs/{id}/resume", null);
        await cluster.WaitForStateAsync(id, "succeeded", TimeSpan.FromMinutes(1));
        var starts = (await cluster.GetJsonAsync($"/api/jobs/{id}/events?type=start"))["events"]!.AsArray();
        Assert.Equal([0, at], starts.Select(e => e!["data"]!["resumed_from_step"]!.GetValue<int>()));
    }

    private static async Task<List<string>> TarNamesAsync(byte[] tar)
    {
        var names = new List<string>();
        await using var reader = new System.Formats.Tar.TarReader(new MemoryStream(tar));
        while (await reader.GetNextEntryAsync() is { } e) names.Add(Path.GetFileName(e.Name));
        return names;
    }
}
