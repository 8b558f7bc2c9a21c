using FineTuneLab.Coordinator.Jobs;
using FineTuneLab.Coordinator.Store;
using FineTuneLab.Shared.Protos.Agent.V1;

namespace FineTuneLab.Coordinator.Tests.Jobs;

public sealed class JobStatesTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ftl-jobs-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Theory]
    [InlineData("assigned", "running", true)]
    [InlineData("running", "paused", true)]
    [InlineData("paused", "running", true)]
    [InlineData("stopping", "running", false)]
    [InlineData("stopping", "stopped", true)]
    [InlineData("succeeded", "running", false)]
    [InlineData("queued", "running", false)]
    public void Agents_may_only_make_the_moves_of_the_state_machine(string from, string to, bool allowed) =>
        Assert.Equal(allowed, JobStates.AgentMayMove(from, to));

    [Fact]
    public void A_failure_report_ends_the_job_with_its_class_and_bills_the_uptime()
    {
        using var store = CoordinatorStore.Open(Path.Combine(_dir, "c.db"));
        using var ingest = new FineTuneLab.Coordinator.AgentGateway.TelemetryIngest(store);
        var jobs = new JobStore(store, ingest);
        using (var c = store.OpenConnection())
            Sql.Execute(c, "INSERT INTO agents (id, name, token_hash, registered_at, state) VALUES ('a1', 'n', 'h', 't', 'online')");
        var id = jobs.Create(new JobSubmission("j", "", 0, "{}", "{}", 10, null, 0, null));
        Assert.True(jobs.Assign(id, "a1", null, 3.6));
        Assert.False(jobs.Assign(id, "a1", null, 3.6)); // no longer queued

        using (var c = store.OpenConnection())
        {
            var now = DateTime.UtcNow;
            JobStore.Apply(c, id, new AgentReported("a1", JobStates.Running, "", 0, 0, "", "", 1, now, null), JobRules.Default, ingest.Next, []);
            // not its agent: ignored
            JobStore.Apply(c, id, new AgentReported("other", JobStates.Succeeded, "", 0, 0, "", "", 0, now, null), JobRules.Default, ingest.Next, []);
            JobStore.Apply(c, id, new AgentReported("a1", JobStates.Failed, "", 1, 0, "CUDA error: out of memory", "at Trainer.Step()", 100, now, null),
                JobRules.Default, ingest.Next, []);
        }
        var job = jobs.Get(id)!;
        Assert.Equal("failed", job.State);
        Assert.Equal("failed", job.StopReason);
        Assert.Contains("\"class\":\"cuda_oom\"", job.ErrorJson);
        Assert.Contains("at Trainer.Step()", job.ErrorJson);
        Assert.Equal(0.1, job.SpentBeforeUsd, 6); // 100 s at $3.60/h
        Assert.Null(job.AgentId);
    }
}
