using System.Globalization;
using System.Text.Json.Nodes;
using FineTuneLab.EndToEnd.Tests.ControlPlane;
using Xunit.Abstractions;
using static FineTuneLab.EndToEnd.Tests.Recovery.RecoveryJob;

namespace FineTuneLab.EndToEnd.Tests.Recovery;

/// <summary>
/// Budget stops with the real trainer: the coordinator's predictive stop, and the agent's own when the coordinator
/// is unreachable. The node's price is set so that dollars last seconds ($0.50 per second of uptime; the trainer starts
/// in seconds, so the budget leaves it tens of steps). The runs are far longer than any budget here lasts, so it is the
/// budget that ends them however fast the machine trains (a fixed step count once finished first on a quiet machine).
/// </summary>
[Collection(RealTrainerCollection.Name)]
public sealed class BudgetStopTests(ITestOutputHelper output)
{
    private const double PricePerHour = 1800;
    private const double PricePerSecond = PricePerHour / 3600;
    private const double BudgetUsd = 10;
    private const double RaisedBudgetUsd = 15;
    private const int Steps = 1_000_000;

    [Fact]
    public async Task The_coordinator_stops_the_job_within_one_step_of_its_budget_and_a_raised_budget_resumes_it_to_the_end()
    {
        await using var cluster = new ControlPlaneCluster(Trainer);
        await cluster.StartCoordinatorAsync();
        await cluster.StartAgentAsync("cpu", PricePerHour);
        var id = await cluster.SubmitAsync(Submission(Spec(Steps, checkpointEvery: 10), new JsonObject { ["max_usd"] = BudgetUsd }));

        var stopped = await cluster.WaitForStateAsync(id, "stopped", TimeSpan.FromMinutes(3));
        var stoppedAt = await AssertStoppedByBudgetAsync(cluster, id, stopped, BudgetUsd, expectAlerts: true);

        // A raised budget resumes the run from the checkpoint the stop uploaded, and holds again at the new limit.
        await PostAsync(cluster, $"/api/jobs/{id}/resume", new JsonObject { ["budget"] = new JsonObject { ["max_usd"] = RaisedBudgetUsd } });
        await ControlPlaneCluster.WaitUntilAsync(async () => (await EventsAsync(cluster, id, "start")).Count == 2, TimeSpan.FromMinutes(3),
            () => $"job {id} did not start again\n{cluster.Logs()}");
        var starts = await EventsAsync(cluster, id, "start");
        Assert.Equal(stoppedAt, Body(starts[^1])["resumed_from_step"]!.GetValue<long>());
        var stoppedAgain = await cluster.WaitForStateAsync(id, "stopped", TimeSpan.FromMinutes(3));
        Assert.Equal(RaisedBudgetUsd, stoppedAgain["budget"]!["max_usd"]!.GetValue<double>());
        var stoppedAgainAt = await AssertStoppedByBudgetAsync(cluster, id, stoppedAgain, RaisedBudgetUsd, expectAlerts: false);
        Assert.True(stoppedAgainAt > stoppedAt, $"the resumed run stopped at step {stoppedAgainAt}, not after step {stoppedAt}");
    }

    [Fact]
    public async Task With_the_coordinator_unreachable_the_agent_stops_the_job_itself_and_reports_it_when_back()
    {
        await using var cluster = new ControlPlaneCluster(Trainer);
        await using var proxy = new TcpCutProxy(cluster.GrpcPort);
        // The outage must not make the agent lost: that is the other recovery path.
        await cluster.StartCoordinatorAsync(["--heartbeat-timeout", "300"]);
        await cluster.StartAgentAsync("cpu", PricePerHour, coordinatorUrl: $"http://127.0.0.1:{proxy.Port}");
        var id = await cluster.SubmitAsync(Submission(Spec(Steps, checkpointEvery: 10), new JsonObject { ["max_usd"] = BudgetUsd }));
        await ControlPlaneCluster.WaitUntilAsync(async () => (await cluster.GetJsonAsync($"/api/jobs/{id}"))["progress"]?["step"]?.GetValue<long>() >= 1,
            TimeSpan.FromMinutes(3), () => $"job {id} made no step\n{cluster.Logs()}");
        proxy.Cut();

        // The trainer's own event file on the agent shows the stop while the coordinator cannot have ordered it.
        var eventsFile = Path.Combine(cluster.Dir, "cpu", "jobs", id, "out", "events.jsonl");
        await ControlPlaneCluster.WaitUntilAsync(() => Task.FromResult(File.Exists(eventsFile) && File.ReadAllText(eventsFile).Contains("\"type\":\"done\"", StringComparison.Ordinal)),
            TimeSpan.FromMinutes(2), () => $"the agent did not stop the trainer on its own\n{cluster.Logs()}");
        var done = JsonNode.Parse(File.ReadLines(eventsFile).Last(l => l.Contains("\"type\":\"done\"", StringComparison.Ordinal)))!;
        Assert.Equal("stopped", done["reason"]!.GetValue<string>());
        Assert.Equal("running", (await cluster.GetJsonAsync($"/api/jobs/{id}"))["state"]!.GetValue<string>());

        proxy.Restore();
        var stopped = await cluster.WaitForStateAsync(id, "stopped", TimeSpan.FromMinutes(2));
        var stoppedAt = await AssertStoppedByBudgetAsync(cluster, id, stopped, BudgetUsd, expectAlerts: true);
        Assert.Equal(done["step"]!.GetValue<long>(), stoppedAt);
    }

    /// <summary>
    /// Stopped for the budget, its spend within one step's cost above the budget (one step measured from the run's
    /// own step events) and not far below it, each alert raised once (checked for the job's first budget), and the final
    /// checkpoint uploaded. Returns the step it stopped at.
    /// </summary>
    private async Task<long> AssertStoppedByBudgetAsync(ControlPlaneCluster cluster, string id, JsonNode stopped, double budgetUsd, bool expectAlerts)
    {
        Assert.Equal("budget", stopped["stop_reason"]?.GetValue<string>());
        var steps = await EventsAsync(cluster, id, "step");
        var lastStep = steps.Max(e => Body(e)["step"]!.GetValue<long>());
        Assert.True(lastStep < Steps, $"the job ran to the end ({lastStep} steps) before its budget was spent");
        var oneStepUsd = SlowestStepSeconds(steps) * PricePerSecond;
        var spent = stopped["cost"]!["spent_usd"]!.GetValue<double>();
        var checkpoints = await EventsAsync(cluster, id, "checkpoint");
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"stopped at step {lastStep}: spent ${spent:0.###} of ${budgetUsd}; slowest step {oneStepUsd / PricePerSecond:0.###} s = ${oneStepUsd:0.###}"));
        Assert.True(spent <= budgetUsd + oneStepUsd, $"spent ${spent} passes the budget ${budgetUsd} by more than one step's cost ${oneStepUsd}");
        // Not far below either: the stop waits until the next step, a checkpoint and the coordinator's view lag
        // (a heartbeat and a tick, 1.5 s) would cross the budget.
        var checkpointSeconds = 1.0;
        var early = PricePerSecond * (1.5 + 1.0 + 2 * oneStepUsd / PricePerSecond + checkpointSeconds);
        Assert.True(spent >= budgetUsd - early, $"spent ${spent} stops too early (budget ${budgetUsd}, allowed ${early} early)");

        if (expectAlerts)
        {
            // The coordinator raises the alerts of a spend it learns late (the agent stopped the job while cut off) on its next tick.
            List<double> alerts = [];
            await ControlPlaneCluster.WaitUntilAsync(async () =>
            {
                alerts = (await EventsAsync(cluster, id, "budget_alert")).Select(e => Body(e)["threshold"]!.GetValue<double>()).Order().ToList();
                return alerts.Count >= 3;
            }, TimeSpan.FromSeconds(15), () => $"budget alerts: [{string.Join(", ", alerts)}]\n{cluster.Logs()}");
            await Task.Delay(TimeSpan.FromSeconds(1)); // a second tick must not repeat one
            alerts = (await EventsAsync(cluster, id, "budget_alert")).Select(e => Body(e)["threshold"]!.GetValue<double>()).Order().ToList();
            Assert.Equal([0.5, 0.8, 1.0], alerts);
        }

        Assert.Equal(lastStep, stopped["last_checkpoint"]?["step"]?.GetValue<long>());
        Assert.Equal(lastStep, checkpoints.Max(e => Body(e)["step"]!.GetValue<long>()));
        return lastStep;
    }
}
