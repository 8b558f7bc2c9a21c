using System.Text.Json.Nodes;
using FineTuneLab.EndToEnd.Tests.ControlPlane;
using static FineTuneLab.EndToEnd.Tests.Recovery.RecoveryJob;

namespace FineTuneLab.EndToEnd.Tests.Recovery;

/// <summary>A run that really diverges: the trainer's nan_loss warning becomes an anomaly and the job's policy is carried out.</summary>
[Collection(RealTrainerCollection.Name)]
public sealed class AnomalyPolicyTests
{
    [Fact]
    public async Task A_diverging_run_raises_nan_loss_and_its_pause_policy_pauses_the_job()
    {
        await using var cluster = new ControlPlaneCluster(Trainer);
        await cluster.StartCoordinatorAsync();
        await cluster.StartAgentAsync("cpu");
        // A learning rate of 10 with weight decay 10 scales every LoRA weight by (1 - 100) each step: the loss turns
        // non-finite within a few steps (a real divergence, no fault injection).
        var spec = Spec(steps: 400, checkpointEvery: 50, learningRate: 10, weightDecay: 10);
        var id = await cluster.SubmitAsync(Submission(spec, anomalyPolicy: new JsonObject { ["nan_loss"] = "pause" }));

        var paused = await cluster.WaitForStateAsync(id, "paused", TimeSpan.FromMinutes(3));
        Assert.True(paused["progress"]!["step"]!.GetValue<long>() < 400);
        var warning = Body(Assert.Single(await EventsAsync(cluster, id, "warning"), e => Body(e)["kind"]?.GetValue<string>() == "nan_loss"));
        var anomaly = Body(Assert.Single(await EventsAsync(cluster, id, "anomaly")));
        Assert.Equal("nan_loss", anomaly["kind"]!.GetValue<string>());
        Assert.Equal("trainer", anomaly["detected_by"]!.GetValue<string>());
        Assert.Equal("pause", anomaly["action"]!.GetValue<string>());
        Assert.True(anomaly["action_taken"]!.GetValue<bool>());
        Assert.Equal(warning["step"]!.GetValue<long>(), anomaly["step"]!.GetValue<long>());
        Assert.Contains("learning rate", anomaly["message"]!.GetValue<string>());

        // Paused means stopped in place (SIGSTOP): no further step arrives.
        var stepsWhenPaused = (await EventsAsync(cluster, id, "step")).Count;
        await Task.Delay(TimeSpan.FromSeconds(2));
        Assert.Equal(stepsWhenPaused, (await EventsAsync(cluster, id, "step")).Count);

        await PostAsync(cluster, $"/api/jobs/{id}/cancel");
        await cluster.WaitForStateAsync(id, "cancelled", TimeSpan.FromMinutes(1));
    }

    [Fact]
    public async Task An_unknown_anomaly_kind_or_action_is_refused_at_submission_naming_the_field()
    {
        await using var cluster = new ControlPlaneCluster(Trainer);
        await cluster.StartCoordinatorAsync();
        var response = await cluster.Http.PostAsync("/api/jobs", new StringContent(
            Submission(Spec(10, 5), anomalyPolicy: new JsonObject { ["nan_los"] = "pause", ["loss_spike"] = "explode" }).ToJsonString(),
            System.Text.Encoding.UTF8, "application/json"));
        var text = await response.Content.ReadAsStringAsync();
        Assert.Equal(400, (int)response.StatusCode);
        Assert.Contains("$.anomaly_policy.nan_los", text);
        Assert.Contains("unknown anomaly kind", text);
        Assert.Contains("$.anomaly_policy.loss_spike", text);
        Assert.Contains("warn, pause, stop or fail", text);
    }
}
