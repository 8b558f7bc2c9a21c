using System.Globalization;
using System.Text.Json.Nodes;
using FineTuneLab.Coordinator.AgentGateway;
using FineTuneLab.Coordinator.Jobs;
using FineTuneLab.Coordinator.Store;
using Microsoft.Data.Sqlite;

namespace FineTuneLab.Coordinator.Tests.Jobs;

public sealed class CostLedgerTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ftl-ledger-").FullName;

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        Directory.Delete(_dir, recursive: true);
    }

    private static DateTime Utc(string iso) => DateTime.Parse(iso, null, System.Globalization.DateTimeStyles.AdjustToUniversal | System.Globalization.DateTimeStyles.AssumeUniversal);

    [Theory]
    [InlineData("2020-02-29T00:30:00Z", 3600, "2020-02-28=1800;2020-02-29=1800")]
    [InlineData("2020-02-29T00:00:00Z", 600, "2020-02-28=600")] // a report at midnight bills the day that ended
    [InlineData("2020-03-01T12:00:00Z", 219600, "2020-02-27=3600;2020-02-28=86400;2020-02-29=86400;2020-03-01=43200")]
    [InlineData("2020-03-01T06:00:00.5Z", 1.5, "2020-03-01=1.5")]
    public void Uptime_is_split_at_utc_midnight_and_the_parts_add_up(string end, double seconds, string expected)
    {
        var parts = CostLedger.SplitByUtcDay(Utc(end), seconds);
        Assert.Equal(expected, string.Join(";", parts.Select(p => $"{p.Day}={p.Seconds}")));
        Assert.Equal(seconds, parts.Sum(p => p.Seconds), 9);
    }

    private (CoordinatorStore Store, JobStore Jobs, TelemetryIngest Ingest, CostScenario Scenario) Run()
    {
        var store = CoordinatorStore.Open(Path.Combine(_dir, "c.db"));
        var ingest = new TelemetryIngest(store);
        ingest.Start();
        var jobs = new JobStore(store, ingest);
        return (store, jobs, ingest, CostScenario.Build(new AgentStore(store), jobs, ingest));
    }

    private static Dictionary<string, double> Ledger(CoordinatorStore store, string column)
    {
        using var c = store.OpenConnection();
        return Sql.Query(c, $"SELECT {column}, SUM(usd) FROM cost_ledger GROUP BY {column}", r => (r.GetString(0), r.GetDouble(1)))
            .ToDictionary(x => x.Item1, x => Math.Round(x.Item2, 9));
    }

    [Fact]
    public void Reported_uptime_is_billed_at_each_assignments_frozen_price_by_utc_day_and_sums_to_each_jobs_spend()
    {
        var (store, jobs, _, s) = Run();
        using var _store = store;

        Assert.Equal(new Dictionary<string, double> { ["2020-02-28"] = 3.6, ["2020-02-29"] = 9.0, ["2020-03-01"] = 7.7 }, Ledger(store, "day"));
        Assert.Equal(new Dictionary<string, double> { [s.NodeA] = 7.2, [s.NodeB] = 12.6, [s.NodeC] = 0.5 }, Ledger(store, "agent_id"));
        Assert.Equal(new Dictionary<string, double> { ["research"] = 13.1, [""] = 7.2 }, Ledger(store, "project"));
        foreach (var (job, usd) in new[] { (s.Alpha, CostScenario.AlphaUsd), (s.Beta, CostScenario.BetaUsd), (s.Delta, CostScenario.DeltaUsd), (s.Gamma, 0.0) })
        {
            var (ledger, spent) = CostScenario.Spend(store, jobs, job);
            Assert.Equal(usd, spent, 9);
            Assert.Equal(spent, ledger, 9);
        }
        var alpha = jobs.Get(s.Alpha)!;
        Assert.Equal(2.75, alpha.HoursBefore, 9);
        Assert.Equal(1, alpha.Restarts);
    }

    [Fact]
    public void Replayed_outboxes_and_a_coordinator_restart_bill_nothing_twice_and_write_no_event_twice()
    {
        var (store, jobs, ingest, s) = Run();
        List<string> Snapshot(CoordinatorStore st)
        {
            using var c = st.OpenConnection();
            return Sql.Query(c, "SELECT job_id || '|' || agent_id || '|' || day || '|' || seconds || '|' || usd FROM cost_ledger ORDER BY 1", r => r.GetString(0))
                .Concat(Sql.Query(c, "SELECT job_id || '|' || bucket || '|' || at_ms || '|' || spent_usd FROM cost_points ORDER BY 1", r => r.GetString(0)))
                .Concat(Sql.Query(c, "SELECT ingest_id || '|' || type || '|' || json FROM events ORDER BY ingest_id", r => r.GetString(0))).ToList();
        }
        var before = Snapshot(store);

        s.Replay();
        ingest.Heartbeat(s.NodeC, s.Delta, 999); // a late heartbeat below the high-water mark
        Assert.Equal(before, Snapshot(store));

        store.Dispose();
        SqliteConnection.ClearAllPools();
        using var reopened = CoordinatorStore.Open(Path.Combine(_dir, "c.db"));
        var ingestAfterRestart = new TelemetryIngest(reopened);
        ingestAfterRestart.Start();
        foreach (var (agent, message) in s.Sent) ingestAfterRestart.Persist(agent, [message]);
        Assert.Equal(before, Snapshot(reopened));

        // New uptime after the restart is billed from the high-water mark on.
        ingestAfterRestart.Heartbeat(s.NodeC, s.Delta, 1360);
        var (ledger, spent) = CostScenario.Spend(reopened, new JobStore(reopened, ingestAfterRestart), s.Delta);
        Assert.Equal(0.5 + 360 * 1.8 / 3600, spent, 9);
        Assert.Equal(spent, ledger, 9);
    }

    [Fact]
    public void Each_transition_writes_its_events_once_in_feed_order()
    {
        var (store, jobs, _, s) = Run();
        using var _store = store;
        var events = JobEvents.Read(store, s.Alpha);
        var summary = events.Select(e => e.Body switch
        {
            StateChanged { Ignored: { } why } o => $"state_report {o.To}: {why}",
            StateChanged o => $"state {o.From}>{o.To} by {o.By}",
            JobAssigned o => string.Create(CultureInfo.InvariantCulture, $"assigned {o.AgentName} gpu {o.GpuIndex} {o.GpuName} ${o.PricePerHour}/h"),
            Requeued o => $"requeued ({o.Reason}) restarts {o.Restarts}/{o.MaxRestarts}",
            _ => e.Type,
        }).ToList();
        Assert.Equal(
        [
            "state >queued by user",
            "state queued>assigned by scheduler",
            "assigned node-a gpu 0 NVIDIA A100-SXM4-80GB $3.6/h",
            "state assigned>running by agent",
            "step",
            "state_report running: the job is already running",
            "state_report running: the job is already running",
            "state running>queued by coordinator",
            $"requeued (agent {s.NodeA} was lost) restarts 1/3",
            "state queued>assigned by scheduler",
            "assigned node-b gpu 0 NVIDIA H100 80GB HBM3 $7.2/h",
            "state assigned>running by agent",
            "step",
            "state_report running: the job is already running",
            "state running>succeeded by agent",
        ], summary);
        Assert.True(events.Zip(events.Skip(1)).All(p => p.First.Id < p.Second.Id));
        var done = JsonNode.Parse(events[^1].Json)!; // the documented JSON of a state event
        Assert.Equal("completed", done["reason"]!.GetValue<string>());
        Assert.Equal(2700, done["job_uptime_s"]!.GetValue<double>());

        // A user's move and the coordinator's budget stop are state events too; a move that does not apply writes nothing.
        Assert.True(jobs.TryUserMove(s.Beta, JobStates.Stopped, JobStates.Queued, null, budgetUsd: 50));
        Assert.False(jobs.TryUserMove(s.Beta, JobStates.Stopped, JobStates.Queued, null));
        Assert.True(jobs.TryUserMove(s.Delta, JobStates.Running, JobStates.Stopping, "budget"));
        var resumed = JsonNode.Parse(JobEvents.Read(store, s.Beta, type: JobEvents.State)[^1].Json)!;
        Assert.Equal("stopped>queued resumed user 50", $"{resumed["from"]}>{resumed["to"]} {resumed["reason"]} {resumed["by"]} {resumed["budget"]!["max_usd"]}");
        var budgetStop = JsonNode.Parse(JobEvents.Read(store, s.Delta, type: JobEvents.State)[^1].Json)!;
        Assert.Equal("running>stopping budget coordinator", $"{budgetStop["from"]}>{budgetStop["to"]} {budgetStop["reason"]} {budgetStop["by"]}");

        // Keyed events (budget alerts, anomalies) are written once per job and key.
        var alert = new BudgetAlert(0.5, 0.5, 0.4, 0.2, 0.8, null, "50% of the budget spent");
        Assert.True(jobs.AppendEvent(s.Delta, alert, key: "budget_alert:0.5"));
        Assert.False(jobs.AppendEvent(s.Delta, alert, key: "budget_alert:0.5"));
        Assert.Equal(0.5, Assert.IsType<BudgetAlert>(Assert.Single(JobEvents.Read(store, s.Delta, type: "budget_alert")).Body).Threshold);
    }
}
