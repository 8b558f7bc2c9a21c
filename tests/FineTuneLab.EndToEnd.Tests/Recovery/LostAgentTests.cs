using System.Formats.Tar;
using System.Text.Json.Nodes;
using FineTuneLab.EndToEnd.Tests.ControlPlane;
using FineTuneLab.TestSupport;
using static FineTuneLab.EndToEnd.Tests.Recovery.RecoveryJob;

namespace FineTuneLab.EndToEnd.Tests.Recovery;

/// <summary>An agent killed mid-run (SIGKILL, with its trainer): the job goes on elsewhere from its last uploaded checkpoint.</summary>
[Collection(RealTrainerCollection.Name)]
public sealed class LostAgentTests
{
    // Long enough that the job is still running when the step-20 checkpoint upload is seen, on a fast quiet machine too
    // (the tiny model trains ~30 steps/s there).
    private const int Steps = 200;

    [Fact]
    public async Task A_killed_agents_job_finishes_on_the_other_agent_from_its_checkpoint_with_the_uninterrupted_runs_adapter()
    {
        var spec = Spec(Steps, checkpointEvery: 10);
        await using var cluster = new ControlPlaneCluster(Trainer);
        await cluster.StartCoordinatorAsync(["--heartbeat-timeout", "3", "--max-restarts", "2"]);
        // The cheaper agent gets the job; the other waits for it.
        await cluster.StartAgentAsync("doomed", pricePerHour: 1);
        await cluster.StartAgentAsync("spare", pricePerHour: 2);
        var id = await cluster.SubmitAsync(Submission(spec));
        await ControlPlaneCluster.WaitUntilAsync(async () => (await cluster.GetJsonAsync($"/api/jobs/{id}"))["last_checkpoint"]?["step"]?.GetValue<long>() >= 20,
            TimeSpan.FromMinutes(3), () => $"job {id} uploaded no checkpoint at step 20\n{cluster.Logs()}");
        var job = await cluster.GetJsonAsync($"/api/jobs/{id}");
        Assert.Equal("running", job["state"]!.GetValue<string>());
        var doomedId = (await cluster.GetJsonAsync("/api/agents")).AsArray().Single(a => a!["name"]!.GetValue<string>() == "doomed")!["id"]!.GetValue<string>();
        Assert.Equal(doomedId, job["agent_id"]!.GetValue<string>());

        // The agent and its trainer both name the agent's data folder on their command lines.
        var doomed = ProcessesMentioning(Path.Combine(cluster.Dir, "doomed"));
        Assert.True(doomed.Count >= 2, $"expected the agent and its trainer, found {doomed.Count} process(es)");
        foreach (var pid in doomed) Kill(pid);
        // A checkpoint the trainer wrote just before its kill can still be uploaded by the agent, killed a moment later:
        // the job resumes from the newest one the coordinator has, which is no older than the one seen before the kills.
        var seenBeforeKill = (await cluster.GetJsonAsync($"/api/jobs/{id}"))["last_checkpoint"]!["step"]!.GetValue<long>();

        var done = await cluster.WaitForStateAsync(id, "succeeded", TimeSpan.FromMinutes(3));
        Assert.Equal(1, done["restarts"]!.GetValue<int>());
        Assert.Equal(2, done["max_restarts"]!.GetValue<int>());
        Assert.Null(done["error"]);
        var starts = await EventsAsync(cluster, id, "start");
        var resumedFrom = Body(starts[^1])["resumed_from_step"]!.GetValue<long>();
        Assert.True(resumedFrom >= seenBeforeKill && resumedFrom < Steps, $"resumed from {resumedFrom}, the last checkpoint seen before the kill was {seenBeforeKill}");
        Assert.Contains(resumedFrom, (await cluster.GetJsonAsync($"/api/jobs/{id}/checkpoints")).AsArray().Select(c => c!["step"]!.GetValue<long>()));

        // The reference: the same spec trained without interruption.
        var reference = Path.Combine(cluster.Dir, "reference");
        var specFile = Path.Combine(cluster.Dir, "reference.json");
        await File.WriteAllTextAsync(specFile, spec.ToJsonString());
        var run = await ExternalProcess.RunAsync(Trainer, ["train", "--config", specFile, "--out", reference]);
        run.EnsureSuccess("ftl-train train (uninterrupted reference)");

        var adapterTar = await cluster.Http.GetByteArrayAsync($"/api/jobs/{id}/adapter");
        var resumed = Path.Combine(cluster.Dir, "resumed-adapter");
        Directory.CreateDirectory(resumed);
        await TarFile.ExtractToDirectoryAsync(new MemoryStream(adapterTar), resumed, overwriteFiles: true);
        var expected = await File.ReadAllBytesAsync(Path.Combine(reference, "adapter", "adapter_model.safetensors"));
        var actual = await File.ReadAllBytesAsync(Path.Combine(resumed, "adapter_model.safetensors"));
        Assert.Equal(expected.Length, actual.Length);
        Assert.True(expected.AsSpan().SequenceEqual(actual), "the resumed job's adapter tensors differ from the uninterrupted run's");
    }
}
