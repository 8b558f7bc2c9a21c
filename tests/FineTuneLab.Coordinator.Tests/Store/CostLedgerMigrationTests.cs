using FineTuneLab.Coordinator.AgentGateway;
using FineTuneLab.Coordinator.Jobs;
using FineTuneLab.Coordinator.Store;
using Microsoft.Data.Sqlite;

namespace FineTuneLab.Coordinator.Tests.Store;

public sealed class CostLedgerMigrationTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ftl-migrate-").FullName;
    private string DbPath => Path.Combine(_dir, "coordinator.db");

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public void Migration_3_books_the_spend_of_existing_jobs_keeps_their_events_and_bills_on_from_there()
    {
        using (var v2 = CoordinatorStore.Open(DbPath, Migrations.All.Take(2).ToList()))
        using (var c = v2.OpenConnection())
        {
            Sql.Execute(c, "INSERT INTO agents (id, name, token_hash, registered_at, state) VALUES ('a1', 'node-1', 'h', 't', 'online')");
            Sql.Execute(c, """
                INSERT INTO jobs (id, name, project, spec_json, state, spent_before_usd, hours_before, created_at, updated_at, finished_at)
                VALUES ('done', 'finished run', 'p', '{}', 'succeeded', 1.5, 0.5, '2026-01-01T00:00:00Z', '2026-01-03T08:00:00Z', '2026-01-02T23:00:00Z')
                """);
            Sql.Execute(c, """
                INSERT INTO jobs (id, name, project, spec_json, state, agent_id, price_per_hour, uptime_s, spent_before_usd, hours_before, created_at, updated_at)
                VALUES ('live', 'resumed run', '', '{}', 'running', 'a1', 2.0, 1800, 0.25, 0.125, '2026-01-01T00:00:00Z', '2026-01-05T10:00:00Z')
                """);
            Sql.Execute(c, "INSERT INTO jobs (id, name, spec_json, state, created_at, updated_at) VALUES ('new', 'never ran', '{}', 'queued', 't', 't')");
            Sql.Execute(c, "INSERT INTO events (agent_id, seq, job_id, trainer_seq, type, json, at, ingest_id) VALUES ('a1', 1, 'live', 1, 'step', $js, 't', 1)", ("$js", FineTuneLab.Events.EventJson.Serialize(TestEvents.Step(1))));
        }

        using var store = CoordinatorStore.Open(DbPath);
        var ingest = new TelemetryIngest(store);
        ingest.Start();
        var jobs = new JobStore(store, ingest);
        using (var c = store.OpenConnection())
        {
            Assert.Equal(["done||2026-01-02|1800.0|1.5", "live|a1|2026-01-05|2250.0|1.25"],
                Sql.Query(c, "SELECT job_id || '|' || agent_id || '|' || day || '|' || seconds || '|' || usd FROM cost_ledger ORDER BY job_id", r => r.GetString(0)));
        }
        Assert.Equal("step", Assert.Single(JobEvents.Read(store, "live")).Type);

        // Billing continues from the job's high-water mark, and coordinator events (no agent row) now fit in the feed.
        ingest.Heartbeat("a1", "live", 3600);
        Assert.True(jobs.AppendEvent("live", new AnomalyRaised("loss_spike", "loss spiked", 1, "trainer", "warn", true)));
        foreach (var id in new[] { "done", "live", "new" })
        {
            using var c = store.OpenConnection();
            var ledger = Convert.ToDouble(Sql.Scalar(c, "SELECT COALESCE(SUM(usd), 0) FROM cost_ledger WHERE job_id = $j", ("$j", id)));
            Assert.Equal(JobProjection.Spend(jobs.Get(id)!).SpentUsd, ledger, 9);
        }
        Assert.Equal(2.25, JobProjection.Spend(jobs.Get("live")!).SpentUsd, 9);
        Assert.Equal(["step", "anomaly"], JobEvents.Read(store, "live").Select(e => e.Type));
    }
}
