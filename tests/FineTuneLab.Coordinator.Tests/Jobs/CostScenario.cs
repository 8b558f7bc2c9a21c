using System.Text.Json.Nodes;
using FineTuneLab.Coordinator.AgentGateway;
using FineTuneLab.Coordinator.Jobs;
using FineTuneLab.Coordinator.Store;
using FineTuneLab.Shared.Protos.Agent.V1;
using Google.Protobuf.WellKnownTypes;

namespace FineTuneLab.Coordinator.Tests.Jobs;

/// <summary>
/// Four jobs on three agents, driven through the real ingest path (agent messages with their own seqs and times):
/// <list type="bullet">
/// <item>alpha (research, budget $20): 2 h on node-a at $3.60 across midnight 2020-02-28/29, node-a lost, re-queued,
/// 45 min on node-b at $7.20 from its step-10 checkpoint, succeeded: $7.20 + $5.40 = $12.60.</item>
/// <item>beta (no project): 1 h on node-b on 2020-03-01, stopped: $7.20.</item>
/// <item>gamma (research, budget $10 / 5 h): never placed.</item>
/// <item>delta (research, budget $0.80): running on node-c at $1.80, 1000 s so far: $0.50, step 5 of 50 at 100 tokens/s.</item>
/// </list>
/// Every message sent is kept so a test can replay them all (an agent's outbox after a reconnect).
/// </summary>
internal sealed class CostScenario
{
    public const double AlphaUsd = 12.6, BetaUsd = 7.2, DeltaUsd = 0.5;
    public static readonly string CheckpointSha = new('c', 64);

    public string NodeA { get; private set; } = "";
    public string NodeB { get; private set; } = "";
    public string NodeC { get; private set; } = "";
    public string Alpha { get; private set; } = "";
    public string Beta { get; private set; } = "";
    public string Gamma { get; private set; } = "";
    public string Delta { get; private set; } = "";
    public List<(string Agent, AgentMessage Message)> Sent { get; } = [];

    private readonly Dictionary<string, ulong> _seq = [];
    private readonly TelemetryIngest _ingest;

    private CostScenario(TelemetryIngest ingest) => _ingest = ingest;

    public static CostScenario Build(AgentStore agents, JobStore jobs, TelemetryIngest ingest)
    {
        var s = new CostScenario(ingest);
        s.NodeA = Register(agents, "node-a", 3.6, new GpuInfo { Index = 0, Name = "NVIDIA A100-SXM4-80GB", MemoryTotalBytes = 80UL << 30 });
        s.NodeB = Register(agents, "node-b", 7.2, new GpuInfo { Index = 0, Name = "NVIDIA H100 80GB HBM3", MemoryTotalBytes = 80UL << 30 });
        s.NodeC = Register(agents, "node-c", 1.8, null);
        s.Alpha = jobs.Create(new JobSubmission("alpha", "research", 0, "{}", "{}", 20, null, 0, null));
        s.Beta = jobs.Create(new JobSubmission("beta", "", 0, "{}", "{}", null, null, 0, null));
        s.Gamma = jobs.Create(new JobSubmission("gamma", "research", 0, "{}", "{}", 10, 5, 0, null));
        s.Delta = jobs.Create(new JobSubmission("delta", "research", 0, "{}", "{}", 0.8, null, 0, null));

        Assert.True(jobs.Assign(s.Alpha, s.NodeA, 0, 3.6));
        s.State(s.NodeA, s.Alpha, JobState.Running, 0, "2020-02-28T23:00:00Z");
        s.Step(s.NodeA, s.Alpha, step: 10, total: 100, tokens: 10_240, tokensPerSecond: 1024, "2020-02-28T23:10:00Z", elapsed: 600);
        s.State(s.NodeA, s.Alpha, JobState.Running, 7200, "2020-02-29T01:00:00Z"); // 1 h before midnight, 1 h after
        s.State(s.NodeA, s.Alpha, JobState.Running, 7000, "2020-02-29T01:00:05Z"); // a stale report: bills nothing
        ingest.Heartbeat(s.NodeA, s.Alpha, 7200);                                    // the same uptime again: nothing
        jobs.RecordCheckpoint(s.Alpha, 10, CheckpointSha, 1234);
        Assert.Equal([s.Alpha], jobs.RequeueJobsOf(s.NodeA));

        Assert.True(jobs.Assign(s.Alpha, s.NodeB, 0, 7.2));
        s.State(s.NodeB, s.Alpha, JobState.Running, 0, "2020-02-29T02:00:00Z");
        s.Step(s.NodeB, s.Alpha, step: 20, total: 100, tokens: 20_480, tokensPerSecond: 1024, "2020-02-29T02:15:00Z", elapsed: 900);
        s.State(s.NodeB, s.Alpha, JobState.Running, 1800, "2020-02-29T02:30:00Z");
        s.State(s.NodeB, s.Alpha, JobState.Succeeded, 2700, "2020-02-29T02:45:00Z", "completed");

        Assert.True(jobs.Assign(s.Beta, s.NodeB, 0, 7.2));
        s.State(s.NodeB, s.Beta, JobState.Running, 60, "2020-03-01T10:00:00Z");
        s.State(s.NodeB, s.Beta, JobState.Stopped, 3600, "2020-03-01T11:00:00Z", "stopped");

        Assert.True(jobs.Assign(s.Delta, s.NodeC, null, 1.8));
        s.State(s.NodeC, s.Delta, JobState.Running, 0, "2020-03-01T11:40:00Z");
        s.Step(s.NodeC, s.Delta, step: 5, total: 50, tokens: 5000, tokensPerSecond: 100, "2020-03-01T11:50:00Z", elapsed: 600);
        s.State(s.NodeC, s.Delta, JobState.Running, 1000, "2020-03-01T12:00:00Z");
        return s;
    }

    /// <summary>Sends every message again, in order, as an agent replaying its outbox does.</summary>
    public void Replay()
    {
        foreach (var (agent, message) in Sent) _ingest.Persist(agent, [message]);
    }

    private static string Register(AgentStore agents, string name, double price, GpuInfo? gpu)
    {
        var inventory = new NodeInventory { Hostname = name, PricePerHourUsd = price, Cpu = new CpuInfo { LogicalCores = 2 } };
        if (gpu is not null) inventory.Gpus.Add(gpu);
        return agents.Register(null, name, inventory).Id;
    }

    private ulong Next(string agent) => _seq[agent] = _seq.GetValueOrDefault(agent) + 1;

    private void State(string agent, string job, JobState state, double uptime, string at, string reason = "")
    {
        var m = new AgentMessage { JobState = new JobStateChange { Seq = Next(agent), JobId = job, State = state, JobUptimeS = uptime, Reason = reason, At = Timestamp.FromDateTime(DateTime.Parse(at).ToUniversalTime()) } };
        Sent.Add((agent, m));
        _ingest.Persist(agent, [m]);
    }

    private void Step(string agent, string job, long step, long total, long tokens, double tokensPerSecond, string at, double elapsed)
    {
        var time = DateTime.Parse(at).ToUniversalTime();
        var json = FineTuneLab.Events.EventJson.Serialize(TestEvents.Step(step, loss: 3.0 / step, elapsedS: elapsed, time: time, totalSteps: total,
            tokens: tokens, tokensPerS: tokensPerSecond));
        var batch = new TelemetryBatch();
        var e = AgentGateway.TestTrainerEvents.Message("step", step, JsonNode.Parse(json)!.AsObject());
        (e.Seq, e.JobId, e.At) = (Next(agent), job, Timestamp.FromDateTime(DateTime.Parse(at).ToUniversalTime()));
        batch.Events.Add(e);
        var m = new AgentMessage { Telemetry = batch };
        Sent.Add((agent, m));
        _ingest.Persist(agent, [m]);
    }

    /// <summary>The job's ledger rows summed, and the spend the job itself reports.</summary>
    public static (double LedgerUsd, double JobUsd) Spend(CoordinatorStore store, JobStore jobs, string job)
    {
        using var c = store.OpenConnection();
        var ledger = Convert.ToDouble(Sql.Scalar(c, "SELECT COALESCE(SUM(usd), 0) FROM cost_ledger WHERE job_id = $j", ("$j", job)) ?? 0.0);
        return (ledger, JobProjection.Spend(jobs.Get(job)!).SpentUsd);
    }
}
