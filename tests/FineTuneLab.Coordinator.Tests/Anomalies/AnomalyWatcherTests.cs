using System.Text.Json.Nodes;
using FineTuneLab.Coordinator.Anomalies;
using FineTuneLab.Coordinator.Jobs;
using FineTuneLab.Shared.Protos.Agent.V1;

namespace FineTuneLab.Coordinator.Tests.Anomalies;

/// <summary>The watcher on a real store: telemetry and trainer warnings in through the ingest, events and commands out.</summary>
public sealed class AnomalyWatcherTests
{
    [Fact]
    public void A_gpu_that_waits_for_input_raises_one_event_and_by_default_only_warns()
    {
        using var f = new RunningJobFixture();
        f.TrainerEvent(TestEvents.Step(120, loss: 1.0, elapsedS: 60.0));
        f.GpuPoints("gpu.util", Enumerable.Repeat(18.0, 40));
        var watcher = new AnomalyWatcher(f.Runtime);
        watcher.Tick();
        watcher.Tick();
        new AnomalyWatcher(f.Runtime).Tick(); // a restarted coordinator raises it no more

        var anomaly = Assert.Single(f.Events<AnomalyRaised>("anomaly"));
        Assert.Equal(AnomalyKinds.GpuInputBound, anomaly.Kind);
        Assert.Equal("coordinator", anomaly.DetectedBy);
        Assert.Equal("warn", anomaly.Action);
        Assert.Equal(120, anomaly.Step);
        Assert.Contains("18%", anomaly.Message);
        Assert.Empty(f.Commands());
        Assert.Equal(JobStates.Running, f.Job.State);
    }

    [Fact]
    public void The_jobs_own_policy_stops_a_job_whose_gpu_memory_is_near_the_limit()
    {
        using var f = new RunningJobFixture(resources: new JsonObject
        {
            ["device"] = "cuda", [AnomalyWatcher.JobPolicyKey] = new JsonObject { ["gpu_memory_near_limit"] = "stop" },
        });
        f.GpuPoints("gpu.mem.used", [60.0 * (1L << 30), 78.5 * (1L << 30)]);
        new AnomalyWatcher(f.Runtime).Tick();

        var anomaly = Assert.Single(f.Events<AnomalyRaised>("anomaly"));
        Assert.Equal(AnomalyKinds.GpuMemoryNearLimit, anomaly.Kind);
        Assert.Equal("stop", anomaly.Action);
        Assert.True(anomaly.ActionTaken);
        var command = Assert.Single(f.Commands());
        Assert.Equal(CommandKind.Stop, command.Kind);
        Assert.Equal("anomaly:gpu_memory_near_limit", command.Reason);
        Assert.Equal(JobStates.Stopping, f.Job.State);
    }

    [Fact]
    public void A_trainer_warning_follows_the_coordinator_default_policy_once_per_warning()
    {
        using var f = new RunningJobFixture(anomalyPolicy: "nan_loss=fail,loss_spike=pause");
        var watcher = new AnomalyWatcher(f.Runtime);
        Assert.Equal(AnomalyAction.Fail, watcher.PolicyOf(f.Job).ActionFor("nan_loss"));
        Assert.Equal(AnomalyAction.Warn, watcher.PolicyOf(f.Job).ActionFor("loss_stalled"));

        f.TrainerEvent(TestEvents.Warning("loss_spike", "loss spiked", 40));
        watcher.Tick();
        f.TrainerEvent(TestEvents.Warning("nan_loss", "loss is NaN at step 41", 41));
        watcher.Tick();
        watcher.Tick();

        var anomalies = f.Events<AnomalyRaised>("anomaly");
        Assert.Equal(["loss_spike", "nan_loss"], anomalies.Select(a => a.Kind));
        Assert.All(anomalies, a => Assert.Equal("trainer", a.DetectedBy));
        var commands = f.Commands();
        Assert.Equal([CommandKind.Pause, CommandKind.Stop], commands.Select(c => c.Kind));
        Assert.Equal("anomaly:loss_spike", commands[0].Reason);
        Assert.Equal("fail:nan_loss", commands[1].Reason);
        Assert.Equal(JobStates.Stopping, f.Job.State);
    }

    [Fact]
    public void Eval_loss_rising_while_train_loss_falls_is_raised_as_overfitting_once()
    {
        using var f = new RunningJobFixture(resources: new JsonObject { ["device"] = "cpu" });
        var watcher = new AnomalyWatcher(f.Runtime);
        double[] evalLosses = [1.50, 1.40, 1.45, 1.52];
        for (var step = 1; step <= 400; step++)
        {
            f.TrainerEvent(TestEvents.Step(step, loss: 2.0 - step / 400.0));
            if (step % 100 == 0) f.TrainerEvent(TestEvents.Eval(step, evalLosses[step / 100 - 1]));
            if (step == 300)
            {
                watcher.Tick(); // one rise is not a trend
                Assert.Empty(f.Events<AnomalyRaised>("anomaly"));
            }
        }
        watcher = new AnomalyWatcher(f.Runtime); // a fresh watcher checks at once (no 5 s wait)
        watcher.Tick();
        new AnomalyWatcher(f.Runtime).Tick();

        var anomaly = Assert.Single(f.Events<AnomalyRaised>("anomaly"));
        Assert.Equal(AnomalyKinds.Overfitting, anomaly.Kind);
        Assert.Equal(400, anomaly.Step);
        Assert.Contains("checkpoint at step 200", anomaly.Message);
    }
}
