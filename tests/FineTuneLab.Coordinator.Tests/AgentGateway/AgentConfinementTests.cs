using System.Text.Json.Nodes;
using FineTuneLab.Coordinator.AgentGateway;
using FineTuneLab.Coordinator.Jobs;
using FineTuneLab.Coordinator.Store;
using FineTuneLab.Shared.Protos.Agent.V1;
using Google.Protobuf.WellKnownTypes;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging.Abstractions;

namespace FineTuneLab.Coordinator.Tests.AgentGateway;

/// <summary>Which agent may act on which job (<see cref="AgentConfinement"/>), and the ingest dropping what it refuses.</summary>
public sealed class AgentConfinementTests : IDisposable
{
    private const string A = "agent_a", B = "agent_b", Sha1 = "1111", Sha2 = "2222";
    private readonly string _dir = Directory.CreateTempSubdirectory("ftl-confine-").FullName;

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        Directory.Delete(_dir, recursive: true);
    }

    [Theory]
    [InlineData("assigned", A, null, A, true)]
    [InlineData("running", A, null, A, true)]
    [InlineData("paused", A, null, A, true)]
    [InlineData("stopping", A, null, A, true)]
    [InlineData("running", A, null, B, false)]
    [InlineData("queued", null, null, A, false)] // re-queued after its agent was lost: the old agent's replay is not the job's any more
    [InlineData("succeeded", null, A, A, true)]  // the agent that ran it: what it buffered while cut off, its final report
    [InlineData("succeeded", null, A, B, false)]
    [InlineData("cancelled", A, null, A, true)]  // cancelled while its agent was cut off: the row still names it
    [InlineData("failed", null, null, B, false)]
    public void Items_are_taken_only_from_the_agent_that_holds_or_last_held_the_job(string state, string? holder, string? last, string agent, bool allowed)
    {
        var hold = new JobHold(state, holder, last, null);
        foreach (var act in new[] { AgentAct.Event, AgentAct.Log, AgentAct.Telemetry, AgentAct.StateReport, AgentAct.Upload })
        {
            var reason = AgentConfinement.Refusal(agent, "job_1", hold, act);
            Assert.Equal(allowed, reason is null);
            if (reason is not null)
            {
                Assert.Contains("job_1", reason);
                Assert.Contains(agent, reason);
            }
        }
    }

    [Fact]
    public void A_job_that_does_not_exist_takes_nothing()
    {
        Assert.Contains("job_x does not exist", AgentConfinement.Refusal(A, "job_x", null, AgentAct.Event));
        Assert.NotNull(AgentConfinement.UploadRefusal(A, "job_x", null, "adapter", Sha1, null, null));
    }

    [Fact]
    public void Artifacts_are_immutable_and_an_ended_job_takes_only_what_its_end_admits()
    {
        var running = new JobHold("running", A, null, null);
        Assert.Null(AgentConfinement.UploadRefusal(A, "j", running, "checkpoint", Sha1, 10, null));
        Assert.Null(AgentConfinement.UploadRefusal(A, "j", running, "checkpoint", Sha1, 10, Sha1)); // the same bytes again
        Assert.Contains("already has checkpoint 1111 for step 10", AgentConfinement.UploadRefusal(A, "j", running, "checkpoint", Sha2, 10, Sha1));
        Assert.Contains("held by agent_a", AgentConfinement.UploadRefusal(B, "j", running, "checkpoint", Sha2, 20, null));
        Assert.Null(AgentConfinement.UploadRefusal(A, "j", running, "adapter", Sha1, null, null));

        var succeeded = new JobHold("succeeded", null, A, Sha1);
        Assert.Null(AgentConfinement.UploadRefusal(A, "j", succeeded, "adapter", Sha1, null, null));
        Assert.Contains("already has adapter 1111", AgentConfinement.UploadRefusal(A, "j", succeeded, "adapter", Sha2, null, null));
        Assert.Contains("no checkpoint", AgentConfinement.UploadRefusal(A, "j", succeeded, "checkpoint", Sha2, 30, null));
        Assert.Null(AgentConfinement.UploadRefusal(A, "j", succeeded, "file", Sha2, null, null)); // the GGUF package
        Assert.NotNull(AgentConfinement.UploadRefusal(B, "j", succeeded, "adapter", Sha1, null, null));

        var stopped = new JobHold("stopped", null, A, null);
        Assert.Null(AgentConfinement.UploadRefusal(A, "j", stopped, "checkpoint", Sha1, 40, null)); // the checkpoint its stop wrote
        Assert.Contains("no adapter", AgentConfinement.UploadRefusal(A, "j", stopped, "adapter", Sha1, null, null));
        Assert.Contains("no file artifact", AgentConfinement.UploadRefusal(A, "j", stopped, "file", Sha1, null, null));
    }

    [Theory]
    [InlineData(true, true, false, false)]
    [InlineData(true, true, true, true)]    // the agent itself, with its token (restarted before its old session was seen to end)
    [InlineData(true, false, false, true)]  // offline or lost: a restarted agent gets its id back
    [InlineData(false, false, false, true)] // unknown: the store gives it a fresh id
    public void The_id_of_a_connected_agent_cannot_be_registered_again_without_its_token(bool known, bool connected, bool proven, bool allowed) =>
        Assert.Equal(allowed, AgentConfinement.ReRegistrationRefusal(A, known, connected, proven) is null);

    [Fact]
    public async Task The_ingest_stores_nothing_another_agent_sends_for_a_job_acks_it_and_counts_it()
    {
        using var store = CoordinatorStore.Open(Path.Combine(_dir, "c.db"));
        var agents = new AgentStore(store);
        var holder = agents.Register(null, "holder", new NodeInventory { Hostname = "h1", Cpu = new CpuInfo() }).Id;
        var rogue = agents.Register(null, "rogue", new NodeInventory { Hostname = "h2", Cpu = new CpuInfo() }).Id;
        var refusals = new AgentRefusals(NullLogger.Instance);
        using var ingest = new TelemetryIngest(store, refusals: refusals);
        ingest.Start();
        var jobs = new JobStore(store, ingest);
        var job = jobs.Create(new JobSubmission("victim", "", 0, "{}", "{}", null, null, 0, null));
        Assert.True(jobs.Assign(job, holder, 0, 1.0));

        Assert.Equal(4UL, ingest.Persist(holder, [Telemetry(1, job, loss: 2.5), Log(3, job, "holder line"), State(4, job, JobState.Running)]));
        // The rogue's step (loss 999), points, log line and a report that would end the job; its idle point stays.
        Assert.Equal(7UL, ingest.Persist(rogue, [Telemetry(1, job, loss: 999), Log(3, job, "rogue line"), State(4, job, JobState.Failed),
            new AgentMessage { Telemetry = new TelemetryBatch { Points = { Point(5, job), Point(6, ""), Point(7, job) } } }]));

        using var c = store.OpenConnection();
        Assert.Equal("running", jobs.Get(job)!.State);
        Assert.Equal(0L, Sql.Scalar(c, "SELECT COUNT(*) FROM events WHERE agent_id = $a", ("$a", rogue)));
        Assert.Equal(0L, Sql.Scalar(c, "SELECT COUNT(*) FROM logs WHERE agent_id = $a", ("$a", rogue)));
        Assert.Equal(1L, Sql.Scalar(c, "SELECT COUNT(*) FROM telemetry WHERE agent_id = $a AND job_id IS NULL", ("$a", rogue)));
        Assert.Equal(0L, Sql.Scalar(c, "SELECT COUNT(*) FROM telemetry WHERE agent_id = $a AND job_id IS NOT NULL", ("$a", rogue)));
        Assert.Equal(1L, Sql.Scalar(c, "SELECT COUNT(*) FROM events WHERE agent_id = $a AND type = 'step'", ("$a", holder)));
        Assert.Equal(1L, Sql.Scalar(c, "SELECT COUNT(*) FROM telemetry WHERE agent_id = $a AND job_id = $j", ("$a", holder), ("$j", job)));
        Assert.Equal(7UL, agents.PersistedSeq(rogue));
        Assert.Equal(
            [(rogue, "event", 1L), (rogue, "log", 1L), (rogue, "state_report", 1L), (rogue, "telemetry", 3L)],
            refusals.Counts());
    }

    private static readonly Timestamp At = Timestamp.FromDateTime(new DateTime(2026, 12, 1, 0, 0, 0, DateTimeKind.Utc));

    private static TelemetryPoint Point(ulong seq, string job) => new() { Seq = seq, At = At, JobId = job, Metric = "gpu.util", Value = 1 };

    private static AgentMessage Telemetry(ulong seq, string job, double loss)
    {
        var e = TestTrainerEvents.Message("step", 1, new JsonObject { ["step"] = 1, ["loss"] = loss });
        e.Seq = seq + 1;
        e.JobId = job;
        return new AgentMessage { Telemetry = new TelemetryBatch { Points = { Point(seq, job) }, Events = { e } } };
    }

    private static AgentMessage Log(ulong seq, string job, string text) =>
        new() { Logs = new LogBatch { Lines = { new LogLine { Seq = seq, JobId = job, At = At, Source = "agent", Text = text } } } };

    private static AgentMessage State(ulong seq, string job, JobState state) =>
        new() { JobState = new JobStateChange { Seq = seq, JobId = job, State = state, At = At, Reason = "test" } };
}
