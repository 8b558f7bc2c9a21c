using FineTuneLab.Coordinator.AgentGateway;
using FineTuneLab.Coordinator.Store;
using FineTuneLab.Shared.Protos.Agent.V1;
using Google.Protobuf.WellKnownTypes;
using Microsoft.Data.Sqlite;

namespace FineTuneLab.Coordinator.Tests.AgentGateway;

public sealed class TelemetryIngestTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ftl-ingest-").FullName;

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        Directory.Delete(_dir, recursive: true);
    }

    private static readonly DateTime At = new(2026, 11, 22, 0, 0, 0, 123, DateTimeKind.Utc);

    private static AgentMessage Batch(ulong first, int count, string jobId = "")
    {
        var batch = new TelemetryBatch();
        for (var i = 0; i < count; i++)
            batch.Points.Add(new TelemetryPoint { Seq = first + (ulong)i, At = Timestamp.FromDateTime(At.AddSeconds(i)), JobId = jobId, GpuIndex = i % 2, Metric = "gpu.util", Value = i });
        return new AgentMessage { Telemetry = batch };
    }

    [Fact]
    public async Task Concurrent_sessions_group_committed_store_each_point_once_and_ack_their_own_highest_seq()
    {
        using var store = CoordinatorStore.Open(Path.Combine(_dir, "c.db"));
        var agents = new AgentStore(store);
        var ids = Enumerable.Range(0, 6).Select(a => agents.Register(null, $"a{a}", new NodeInventory { Hostname = $"h{a}", Cpu = new CpuInfo() }).Id).ToArray();
        using var ingest = new TelemetryIngest(store);
        ingest.Start();

        // Each agent sends 40 batches of 25 (some of them crossing a 64-row multi-row insert), without waiting for
        // acks, and replays every batch once (an outbox replay after a reconnect).
        var acks = new ulong[ids.Length][];
        await Task.WhenAll(Enumerable.Range(0, ids.Length).Select(a => Task.Run(async () =>
        {
            var session = new TelemetryIngest.Session(ids[a]);
            var pending = new List<Task<ulong>>();
            for (var b = 0; b < 40; b++)
            {
                pending.Add(ingest.PersistAsync(session, Batch(1 + (ulong)b * 25, 25)));
                pending.Add(ingest.PersistAsync(session, Batch(1 + (ulong)b * 25, 25)));
            }
            acks[a] = await Task.WhenAll(pending);
        })));

        using var c = store.OpenConnection();
        Assert.Equal(6L * 1000, Sql.Scalar(c, "SELECT COUNT(*) FROM telemetry"));
        for (var a = 0; a < ids.Length; a++)
        {
            for (var b = 0; b < 40; b++)
            {
                Assert.Equal((ulong)(b + 1) * 25, acks[a][2 * b]);
                Assert.Equal((ulong)(b + 1) * 25, acks[a][2 * b + 1]);
            }
            Assert.Equal(1000UL, agents.PersistedSeq(ids[a]));
        }
    }

    [Fact]
    public async Task A_failing_item_fails_only_its_own_session_and_what_that_session_sent_after_it()
    {
        using var store = CoordinatorStore.Open(Path.Combine(_dir, "c.db"));
        var agents = new AgentStore(store);
        var known = agents.Register(null, "known", new NodeInventory { Hostname = "h", Cpu = new CpuInfo() }).Id;
        using var ingest = new TelemetryIngest(store);
        ingest.Start();

        // An unregistered agent's message fails (its persisted seq has no row to advance); both queue together so they share groups.
        var good = new TelemetryIngest.Session(known);
        var bad = new TelemetryIngest.Session("agent_unknown");
        var goodAcks = new List<Task<ulong>>();
        var badAcks = new List<Task<ulong>>();
        for (var b = 0; b < 20; b++)
        {
            goodAcks.Add(ingest.PersistAsync(good, Batch(1 + (ulong)b * 10, 10)));
            badAcks.Add(ingest.PersistAsync(bad, Batch(1 + (ulong)b * 10, 10)));
        }

        Assert.Equal(200UL, (await Task.WhenAll(goodAcks))[^1]);
        Assert.Contains("agent_unknown is not registered", (await Assert.ThrowsAsync<InvalidOperationException>(() => badAcks[0])).Message);
        foreach (var later in badAcks.Skip(1))
            await Assert.ThrowsAsync<SessionFailedException>(() => later);
        using var c = store.OpenConnection();
        Assert.Equal(200L, Sql.Scalar(c, "SELECT COUNT(*) FROM telemetry"));
    }

    [Fact]
    public async Task Telemetry_time_is_stored_as_unix_milliseconds_and_rendered_as_iso()
    {
        using var store = CoordinatorStore.Open(Path.Combine(_dir, "c.db"));
        var id = new AgentStore(store).Register(null, "a", new NodeInventory { Hostname = "h", Cpu = new CpuInfo() }).Id;
        using var ingest = new TelemetryIngest(store);
        ingest.Start();
        // Points with a job are stored only for a job the agent holds.
        var jobs = new FineTuneLab.Coordinator.Jobs.JobStore(store, ingest);
        var job = jobs.Create(new FineTuneLab.Coordinator.Jobs.JobSubmission("j", "", 0, "{}", "{}", null, null, 0, null));
        Assert.True(jobs.Assign(job, id, 0, 1.0));

        // 130 points: two 64-row inserts and two rows alone.
        Assert.Equal(130UL, await ingest.PersistAsync(new TelemetryIngest.Session(id), Batch(1, 130, job)));

        using var c = store.OpenConnection();
        var stored = Sql.Query(c, $"SELECT at FROM telemetry WHERE job_id = '{job}' AND metric = 'gpu.util' ORDER BY at", r => r.GetInt64(0));
        Assert.Equal(Enumerable.Range(0, 130).Select(i => 1795305600123L + i * 1000L), stored);
        Assert.Equal(Enumerable.Range(1, 130).Select(i => (long)i), Sql.Query(c, "SELECT seq FROM telemetry ORDER BY seq", r => r.GetInt64(0)));
        Assert.Equal(Enumerable.Range(0, 130).Select(i => (double)i), Sql.Query(c, "SELECT value FROM telemetry ORDER BY seq", r => r.GetDouble(0)));
        Assert.Equal("2026-11-22T00:00:00.123Z", TelemetryTime.ToIso(stored[0]));
        Assert.Equal("integer", Sql.Scalar(c, "SELECT typeof(at) FROM telemetry LIMIT 1"));
    }

    [Fact]
    public async Task A_heartbeat_marks_the_agent_online_and_seen()
    {
        using var store = CoordinatorStore.Open(Path.Combine(_dir, "c.db"));
        var agents = new AgentStore(store);
        var id = agents.Register(null, "a", new NodeInventory { Hostname = "h", Cpu = new CpuInfo() }).Id;
        using var ingest = new TelemetryIngest(store);
        ingest.Start();

        await ingest.HeartbeatAsync(new TelemetryIngest.Session(id), "", 0);

        var row = Assert.Single(agents.List());
        Assert.Equal("online", row.State);
        Assert.NotNull(row.LastSeenAt);
    }
}
