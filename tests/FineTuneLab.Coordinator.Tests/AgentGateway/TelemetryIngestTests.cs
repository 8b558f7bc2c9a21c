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

    private static List<AgentMessage> Batch(ulong first, int count)
    {
        var batch = new TelemetryBatch();
        var at = Timestamp.FromDateTime(new DateTime(2026, 11, 22, 0, 0, 0, DateTimeKind.Utc));
        for (var i = 0; i < count; i++)
            batch.Points.Add(new TelemetryPoint { Seq = first + (ulong)i, At = at, GpuIndex = i % 2, Metric = "gpu.util", Value = i });
        return [new AgentMessage { Telemetry = batch }];
    }

    [Fact]
    public void Concurrent_sessions_group_committed_store_each_point_once_and_ack_their_own_highest_seq()
    {
        using var store = CoordinatorStore.Open(Path.Combine(_dir, "c.db"));
        var agents = new AgentStore(store);
        var ids = Enumerable.Range(0, 6).Select(a => agents.Register(null, $"a{a}", new NodeInventory { Hostname = $"h{a}", Cpu = new CpuInfo() }).Id).ToArray();
        var ingest = new TelemetryIngest(store);

        // Each agent sends 40 batches of 25, and replays every batch once (an outbox replay after a reconnect).
        var acks = new ulong[ids.Length][];
        Parallel.For(0, ids.Length, new ParallelOptions { MaxDegreeOfParallelism = ids.Length }, a =>
        {
            acks[a] = new ulong[80];
            for (var b = 0; b < 40; b++)
            {
                acks[a][2 * b] = ingest.Persist(ids[a], Batch(1 + (ulong)b * 25, 25));
                acks[a][2 * b + 1] = ingest.Persist(ids[a], Batch(1 + (ulong)b * 25, 25));
            }
        });

        using var c = store.OpenConnection();
        Assert.Equal(6L * 1000, Sql.Scalar(c, "SELECT COUNT(*) FROM telemetry"));
        for (var a = 0; a < ids.Length; a++)
        {
            for (var b = 0; b < 40; b++)
                Assert.Equal((ulong)(b + 1) * 25, acks[a][2 * b]);
            Assert.Equal(1000UL, agents.PersistedSeq(ids[a]));
        }
    }

    [Fact]
    public void A_failing_item_fails_only_its_own_caller()
    {
        using var store = CoordinatorStore.Open(Path.Combine(_dir, "c.db"));
        var agents = new AgentStore(store);
        var known = agents.Register(null, "known", new NodeInventory { Hostname = "h", Cpu = new CpuInfo() }).Id;
        var ingest = new TelemetryIngest(store);

        // An unregistered agent violates the telemetry table's foreign key; run both concurrently so they may share a group.
        var results = new (ulong Ack, Exception? Error)[2];
        Parallel.For(0, 2, i =>
        {
            for (var b = 0; b < 20; b++)
            {
                try { results[i] = (ingest.Persist(i == 0 ? known : "agent_unknown", Batch(1 + (ulong)b * 10, 10)), null); }
                catch (SqliteException e) { results[i] = (0, e); }
            }
        });

        Assert.Null(results[0].Error);
        Assert.Equal(200UL, results[0].Ack);
        Assert.NotNull(results[1].Error);
        using var c = store.OpenConnection();
        Assert.Equal(200L, Sql.Scalar(c, "SELECT COUNT(*) FROM telemetry"));
    }

    [Fact]
    public void A_heartbeat_marks_the_agent_online_and_seen()
    {
        using var store = CoordinatorStore.Open(Path.Combine(_dir, "c.db"));
        var agents = new AgentStore(store);
        var id = agents.Register(null, "a", new NodeInventory { Hostname = "h", Cpu = new CpuInfo() }).Id;
        var ingest = new TelemetryIngest(store);

        ingest.Heartbeat(id, "", 0);

        var row = Assert.Single(agents.List());
        Assert.Equal("online", row.State);
        Assert.NotNull(row.LastSeenAt);
    }
}
