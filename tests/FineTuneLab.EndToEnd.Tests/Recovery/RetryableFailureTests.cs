using FineTuneLab.EndToEnd.Tests.ControlPlane;
using static FineTuneLab.EndToEnd.Tests.Recovery.RecoveryJob;

namespace FineTuneLab.EndToEnd.Tests.Recovery;

/// <summary>A trainer killed under a healthy agent (what the kernel's OOM killer does) fails retryably: the job resumes from its checkpoint.</summary>
[Collection(RealTrainerCollection.Name)]
public sealed class RetryableFailureTests
{
    // Long enough that the trainer is still running when the first checkpoint upload is seen, on a fast quiet machine too.
    private const int Steps = 300;

    [Fact]
    public async Task A_sigkilled_trainer_is_classified_retryable_and_the_job_resumes_from_its_last_checkpoint()
    {
        await using var cluster = new ControlPlaneCluster(Trainer);
        await cluster.StartCoordinatorAsync(["--max-restarts", "1"]);
        await cluster.StartAgentAsync("cpu");
        var id = await cluster.SubmitAsync(Submission(Spec(Steps, checkpointEvery: 10)));
        await ControlPlaneCluster.WaitUntilAsync(async () => (await cluster.GetJsonAsync($"/api/jobs/{id}"))["last_checkpoint"]?["step"]?.GetValue<long>() >= 10,
            TimeSpan.FromMinutes(3), () => $"job {id} uploaded no checkpoint\n{cluster.Logs()}");

        // Only the trainer names the job's folder on its command line (--config DATA/jobs/<id>/job.json).
        var trainer = Assert.Single(ProcessesMentioning(Path.Combine(cluster.Dir, "cpu", "jobs", id)));
        Kill(trainer);
        var seenBeforeKill = (await cluster.GetJsonAsync($"/api/jobs/{id}"))["last_checkpoint"]!["step"]!.GetValue<long>();

        var done = await cluster.WaitForStateAsync(id, "succeeded", TimeSpan.FromMinutes(3));
        Assert.Equal(1, done["restarts"]!.GetValue<int>());
        Assert.Null(done["error"]);
        var requeued = Body(Assert.Single(await EventsAsync(cluster, id, "requeued"), e => Body(e)["reason"]?.GetValue<string>() == "retryable_failure"));
        Assert.Equal("host_oom_killed", requeued["error"]!["class"]!.GetValue<string>());
        Assert.Equal(9, requeued["error"]!["signal"]!.GetValue<int>());
        // The checkpoint the trainer wrote just before the kill may still be uploading when the kill lands: the job resumes
        // from the last checkpoint the coordinator holds when it re-queues, never an older one than was seen before the kill.
        var resumedFrom = requeued["resume_checkpoint"]!["step"]!.GetValue<long>();
        Assert.True(resumedFrom >= seenBeforeKill, $"re-queued to resume from step {resumedFrom}, older than checkpoint {seenBeforeKill} seen before the kill");
        var starts = await EventsAsync(cluster, id, "start");
        Assert.Equal(resumedFrom, Body(starts[^1])["resumed_from_step"]!.GetValue<long>());
    }
}
