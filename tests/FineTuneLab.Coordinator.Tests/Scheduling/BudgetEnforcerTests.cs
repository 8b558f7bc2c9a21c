using FineTuneLab.Coordinator.Jobs;
using FineTuneLab.Coordinator.Scheduling;
using FineTuneLab.Coordinator.Tests.Anomalies;
using FineTuneLab.Shared.Protos.Agent.V1;

namespace FineTuneLab.Coordinator.Tests.Scheduling;

/// <summary>The coordinator's budget layer on a real store: uptime from heartbeats, pace from the trainer's events.</summary>
public sealed class BudgetEnforcerTests
{
    [Fact]
    public void Alerts_come_once_each_and_the_stop_is_ordered_when_the_next_step_and_a_checkpoint_would_cross()
    {
        // $36/h = $0.01 per second of uptime; a $1 budget lasts 100 s.
        using var f = new RunningJobFixture(budgetUsd: 1.0, pricePerHour: 36);
        var t0 = DateTimeOffset.UtcNow;
        // Steps of 2 s; the checkpoint at step 10 took 1 s after its step.
        f.TrainerEvent(TestEvents.Step(9, elapsedS: 18.0, time: t0.AddSeconds(18)));
        f.TrainerEvent(TestEvents.Step(10, elapsedS: 20.0, time: t0.AddSeconds(20)));
        f.TrainerEvent(TestEvents.Checkpoint(10, t0.AddSeconds(21)));
        // The ingest folds them into the job's row: the enforcer reads the pace there, never the events again.
        Assert.Equal([9L, 10], f.Job.Pace.Recent.Select(r => r.Step));
        Assert.Equal(new JobPace(2.0, 1.0), JobProjection.Pace(f.Job.Pace));
        var enforcer = new BudgetEnforcer(f.Runtime);

        void At(double uptime)
        {
            f.Runtime.Ingest.Heartbeat(f.AgentId, f.JobId, uptime);
            enforcer.Check(f.Job);
        }
        double[] Alerts() => f.Events<BudgetAlert>(BudgetEnforcer.AlertEvent).Select(e => e.Threshold).ToArray();

        At(40);
        Assert.Empty(Alerts());
        At(50);
        At(51);
        Assert.Equal([0.5], Alerts());
        At(80);
        Assert.Equal([0.5, 0.8], Alerts());
        // $0.95 + (1.5 s view lag + 2 s step + 1 s checkpoint) × $0.01 = $0.995: not yet.
        At(95);
        Assert.Empty(f.Commands());
        Assert.Equal(JobStates.Running, f.Job.State);
        // $0.956 + $0.045 = $1.001: stop now.
        At(95.6);
        var stop = Assert.Single(f.Commands());
        Assert.Equal(CommandKind.Stop, stop.Kind);
        Assert.Equal("budget", stop.Reason);
        Assert.Equal(JobStates.Stopping, f.Job.State);
        Assert.Equal([0.5, 0.8, 1.0], Alerts());
        var full = f.Events<BudgetAlert>(BudgetEnforcer.AlertEvent)[^1];
        Assert.Contains("resume it with a raised budget", full.Message);

        // A restarted coordinator repeats none of them.
        new BudgetEnforcer(f.Runtime).Check(f.Job);
        Assert.Equal([0.5, 0.8, 1.0], Alerts());
    }

    [Fact]
    public void A_job_without_a_budget_is_left_alone()
    {
        using var f = new RunningJobFixture();
        f.Runtime.Ingest.Heartbeat(f.AgentId, f.JobId, 1e6);
        new BudgetEnforcer(f.Runtime).Check(f.Job);
        Assert.Empty(f.Commands());
        Assert.Empty(f.Events<BudgetAlert>(BudgetEnforcer.AlertEvent));
    }
}
