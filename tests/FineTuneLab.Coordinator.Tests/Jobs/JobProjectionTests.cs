using FineTuneLab.Coordinator.Jobs;
using FineTuneLab.Shared.Costs;
using FineTuneLab.Shared.Jobs;

namespace FineTuneLab.Coordinator.Tests.Jobs;

/// <summary>The projection alone: rows in, rows and events out, no store.</summary>
public sealed class JobProjectionTests
{
    private const string Now = "2026-12-07T12:00:00.0000000Z";
    private static readonly DateTime At = new(2026, 12, 7, 12, 0, 0, DateTimeKind.Utc);
    private static readonly CheckpointRow Step10 = new(10, new string('c', 64), 1234, Now);

    private static JobRow Queued(double? budgetUsd = null, int restarts = 0) =>
        JobProjection.Submit("job_1", new JobSubmission("j", "p", 0, "{}", "{}", budgetUsd, null, 0, null), Now).Job with { Restarts = restarts };

    private static JobRow Running(double? budgetUsd = null, int restarts = 0, double uptime = 0, double price = 36) =>
        JobProjection.Apply(Queued(budgetUsd, restarts), new Placed("a1", "node", 0, "H100", 80L << 30, price), JobRules.Default, Now).Job
            with { State = JobStates.Running, UptimeSeconds = uptime };

    private static AgentReported Report(string? to, double uptime, string agent = "a1", int exit = 0, int signal = 0, string error = "") =>
        new(agent, to, "", exit, signal, error, "", uptime, At, Step10);

    [Fact]
    public void Placing_a_queued_job_freezes_the_price_and_says_so_once()
    {
        var p = JobProjection.Apply(Queued(), new Placed("a1", "node", 0, "H100", 80L << 30, 2.5), JobRules.Default, Now);
        Assert.True(p.Moved);
        Assert.Equal((JobStates.Assigned, "a1", 2.5, AgentLink.Hold), (p.Job.State, p.Job.AgentId, p.Job.PricePerHour, p.Agent));
        Assert.Equal([JobEvents.State, JobEvents.Assigned], p.Events.Select(e => e.Type));
        var again = JobProjection.Apply(p.Job, new Placed("a2", "other", 0, "H100", 80L << 30, 1), JobRules.Default, Now);
        Assert.False(again.Moved);
        Assert.Same(p.Job, again.Job);
    }

    [Fact]
    public void Uptime_bills_only_growth_past_the_high_water_mark_and_only_for_the_agent_holding_the_job()
    {
        var job = Running(uptime: 100);
        var p = JobProjection.Apply(job, new UptimeReported("a1", 160, At), JobRules.Default, Now);
        Assert.Equal(60, p.Billed!.Seconds);
        Assert.Equal(160 * 36 / 3600.0, p.Billed.SpentUsd, 9);
        Assert.Equal(160, p.Job.UptimeSeconds);
        Assert.Null(JobProjection.Apply(p.Job, new UptimeReported("a1", 150, At), JobRules.Default, Now).Billed); // a replay
        Assert.Null(JobProjection.Apply(p.Job, new UptimeReported("a2", 500, At), JobRules.Default, Now).Billed); // not its agent
    }

    [Fact]
    public void A_report_from_another_agent_moves_nothing_and_says_why()
    {
        var p = JobProjection.Apply(Running(), Report(JobStates.Succeeded, 10, agent: "a2"), JobRules.Default, Now);
        Assert.False(p.Moved);
        Assert.Equal("the agent does not hold the job", p.Report!.Ignored);
        Assert.Equal(JobEvents.StateReport, p.Report.Type);
    }

    [Fact]
    public void A_killed_trainer_is_classified_once_and_requeued_at_once_from_its_last_checkpoint()
    {
        var p = JobProjection.Apply(Running(uptime: 0), Report(JobStates.Failed, 3600, exit: 137, signal: 9), JobRules.Default, Now);
        Assert.Equal((JobStates.Queued, 1, Step10.Sha256, (string?)null), (p.Job.State, p.Job.Restarts, p.Job.ResumeCheckpoint, p.Job.ErrorJson));
        Assert.Equal(36, p.Job.SpentBeforeUsd, 9); // the hour it ran is kept
        Assert.Equal(AgentLink.Release, p.Agent);
        Assert.Equal("failed", p.Report!.Reason);
        var requeued = Assert.IsType<Requeued>(p.Events[^1]);
        Assert.Equal(("retryable_failure", "host_oom_killed", 9, true), (requeued.Reason, requeued.Error!.Class, requeued.Error.Signal, requeued.Error.Retryable));
        Assert.Equal(10, requeued.ResumeCheckpoint!.Step);
    }

    [Fact]
    public void A_retryable_failure_without_restarts_left_and_a_user_rule_that_says_fail_both_end_the_job_failed()
    {
        var exhausted = JobProjection.Apply(Running(restarts: 3), Report(JobStates.Failed, 10, exit: 137, signal: 9), JobRules.Default, Now);
        Assert.Equal(JobStates.Failed, exhausted.Job.State);
        Assert.Contains("\"retryable\":true", exhausted.Job.ErrorJson);

        var strict = new JobRules(3, new FailureClassifier([new FailureRule { Class = "killed_on_purpose", Action = FailureAction.Fail, Signals = [9] }]));
        var ruled = JobProjection.Apply(Running(), Report(JobStates.Failed, 10, exit: 137, signal: 9), strict, Now);
        Assert.Equal(JobStates.Failed, ruled.Job.State);
        Assert.Contains("\"class\":\"killed_on_purpose\"", ruled.Job.ErrorJson);
        Assert.Empty(ruled.Events);
    }

    [Fact]
    public void A_lost_agent_requeues_its_job_until_the_restarts_are_used()
    {
        var lost = new AgentLost("a1", "agent a1 was lost", Step10);
        var p = JobProjection.Apply(Running(uptime: 1800), lost, JobRules.Default, Now);
        Assert.Equal((JobStates.Queued, (string?)null, 1, 18.0), (p.Job.State, p.Job.AgentId, p.Job.Restarts, p.Job.SpentBeforeUsd));
        Assert.Equal("re-queued: agent a1 was lost", p.Job.WaitingReason);
        Assert.Equal("coordinator", Assert.IsType<StateChanged>(p.Events[0]).By);

        var last = JobProjection.Apply(Running(restarts: 3), lost, JobRules.Default, Now);
        Assert.Equal((JobStates.Failed, "failed"), (last.Job.State, last.Job.StopReason));
        Assert.Contains("node_error", last.Job.ErrorJson);
        Assert.Single(last.Events);
    }

    [Fact]
    public void Cost_projects_the_tokens_left_at_the_current_throughput_and_is_final_once_the_job_ended()
    {
        var job = Running(uptime: 1000, price: 1.8) with { BudgetUsd = 0.8 };
        var cost = JobProjection.Cost(job, TestEvents.Step(5, totalSteps: 50, tokens: 5000, tokensPerS: 100));
        Assert.Equal(0.5, cost.SpentUsd, 9);
        // 45 steps × 1000 tokens at 100 tokens/s = 450 s at $1.80/h = $0.225 more.
        Assert.Equal(0.725, cost.ProjectedUsd!.Value, 9);
        Assert.Equal((JobCostNow.CurrentThroughput, BudgetState.Above50Percent), (cost.ProjectionBasis, cost.BudgetState));
        var ended = JobProjection.Apply(job, Report(JobStates.Succeeded, 1000), JobRules.Default, Now).Job;
        Assert.Equal((0.5, JobCostNow.Final, 0.0), (JobProjection.Cost(ended, null).ProjectedUsd, JobProjection.Cost(ended, null).ProjectionBasis, JobProjection.Cost(ended, null).RateUsdPerHour));
    }

    [Fact]
    public void Budget_alerts_come_once_per_budget_and_the_stop_comes_before_the_next_step_and_checkpoint_would_cross()
    {
        var job = Running(budgetUsd: 1.0, uptime: 85); // $0.85 of $1
        var raised = new HashSet<string>();
        var alerts = JobProjection.BudgetAlerts(job, stopOrdered: false, raised);
        Assert.Equal([0.5, 0.8], alerts.Select(a => a.Alert.Threshold));
        foreach (var (key, _) in alerts) raised.Add(key);
        Assert.Empty(JobProjection.BudgetAlerts(job, stopOrdered: false, raised));
        Assert.Equal([1.0], JobProjection.BudgetAlerts(job, stopOrdered: true, raised).Select(a => a.Alert.Threshold));
        Assert.Equal([0.5], JobProjection.BudgetAlerts(job with { BudgetUsd = 1.5 }, false, raised).Select(a => a.Alert.Threshold)); // a raised budget alerts anew

        var state = new[] { TestEvents.Step(9, elapsedS: 18), TestEvents.Step(10, elapsedS: 20) }.Aggregate(PaceState.Empty, JobProjection.ObservePace);
        var pace = JobProjection.Pace(state);
        Assert.Equal((2.0, 2.0), (pace.StepSeconds, pace.CheckpointSeconds));
        Assert.False(JobProjection.MustStop(job with { Pace = state }));                       // $0.85 + 5.5 s × $0.01
        Assert.True(JobProjection.MustStop(job with { UptimeSeconds = 95, Pace = state }));    // $0.95 + 5.5 s × $0.01 > $1
    }

    [Fact]
    public void The_pace_keeps_the_last_steps_and_the_time_a_checkpoint_took_after_its_step()
    {
        var t0 = DateTimeOffset.UnixEpoch;
        // Steps of 1 s, one slow step of 5 s that falls out of the window, and a checkpoint 3 s after step 7.
        var events = new List<FineTuneLab.Events.TrainerEvent> { TestEvents.Step(1, elapsedS: 1, time: t0.AddSeconds(1)), TestEvents.Step(2, elapsedS: 6, time: t0.AddSeconds(6)) };
        for (var s = 3; s <= 7; s++) events.Add(TestEvents.Step(s, elapsedS: s + 4, time: t0.AddSeconds(s + 4)));
        events.Add(TestEvents.Checkpoint(7, t0.AddSeconds(14)));
        var state = events.Aggregate(PaceState.Empty, JobProjection.ObservePace);
        Assert.Equal([4L, 5, 6, 7], state.Recent.Select(r => r.Step));
        Assert.Equal((1.0, 3.0), (JobProjection.Pace(state).StepSeconds, JobProjection.Pace(state).CheckpointSeconds));
        // A checkpoint whose step is no longer among the last ones leaves the checkpoint time unknown: a step's, at least a second.
        var stale = JobProjection.ObservePace(state, TestEvents.Checkpoint(2, t0.AddSeconds(15)));
        Assert.Equal((1.0, 1.0), (JobProjection.Pace(stale).StepSeconds, JobProjection.Pace(stale).CheckpointSeconds));
        Assert.Same(state, JobProjection.ObservePace(state, new FineTuneLab.Events.LogEvent("info", "not a pace event")));
    }

    [Fact]
    public void Metric_rows_price_each_step_at_its_own_run_and_join_evals_by_step()
    {
        JobLogEntry E(long id, object body, string type) => new(id, "job_1", type, Now, "{}", body);
        var log = new[]
        {
            E(1, new JobAssigned("a1", "n", 0, null, null, 3.6, 0, null, 0), JobEvents.Assigned),
            E(2, TestEvents.Step(1, elapsedS: 3600), "step"),
            E(3, new JobAssigned("a2", "n", 0, null, null, 7.2, 1, null, 3.6), JobEvents.Assigned),
            E(4, TestEvents.Step(1, elapsedS: 1800, loss: 0.5), "step"), // the resumed run reports step 1 again: it wins
            E(5, TestEvents.Eval(1, 0.7), "eval"),
        };
        var row = Assert.Single(JobProjection.MetricRows(log));
        Assert.Equal((0.5, 3.6 + 3.6, 0.7), (row.Loss, row.CostUsd, row.EvalLoss!.Value));
    }
}
