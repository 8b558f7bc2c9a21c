using FineTuneLab.Coordinator.Jobs;
using FineTuneLab.Coordinator.Store;
using FineTuneLab.Coordinator.Tests.Anomalies;
using FineTuneLab.Events;
using FineTuneLab.Shared.Protos.Agent.V1;
using Google.Protobuf.WellKnownTypes;
using Microsoft.Extensions.Logging.Abstractions;

namespace FineTuneLab.Coordinator.Tests.Jobs;

/// <summary>The job's log: typed at the edge and once when read back; what cannot be typed is shown or skipped, never decided on.</summary>
public sealed class JobLogTests
{
    [Fact]
    public void An_event_the_contract_does_not_describe_is_kept_untyped_and_a_broken_coordinator_row_is_skipped()
    {
        using var f = new RunningJobFixture();
        f.TrainerEvent(TestEvents.Step(1, elapsedS: 10));
        var raw = new AgentMessage { Telemetry = new TelemetryBatch { Events =
        {
            new FineTuneLab.Shared.Protos.Agent.V1.TrainerEvent { Seq = 100, JobId = f.JobId, Type = "gpu_throttle", Json = """{"v":1,"seq":2,"type":"gpu_throttle","message":"hot"}""", At = Timestamp.FromDateTime(DateTime.UtcNow) },
            new FineTuneLab.Shared.Protos.Agent.V1.TrainerEvent { Seq = 101, JobId = f.JobId, Type = "step", Json = """{"v":1,"seq":3,"type":"step","step":2}""", At = Timestamp.FromDateTime(DateTime.UtcNow) },
            new FineTuneLab.Shared.Protos.Agent.V1.TrainerEvent { Seq = 102, JobId = f.JobId, Type = "step", Json = "not json", At = Timestamp.FromDateTime(DateTime.UtcNow) },
        } } };
        var typed = IncomingEvents.Parse(f.AgentId, raw, NullLogger.Instance);
        Assert.Equal(["gpu_throttle", "step"], typed.Select(e => e.Type));
        Assert.Contains("unknown event type 'gpu_throttle'", Assert.IsType<UntypedEvent>(typed[0].Body).Reason);
        Assert.Contains("loss", Assert.IsType<UntypedEvent>(typed[1].Body).Reason);
        Assert.Equal(102UL, f.Runtime.Ingest.Persist(f.AgentId, [raw])); // every seq is acked, the refused one too

        using (var c = f.Store.OpenConnection())
            JobEventsTestRow(c, f.JobId);
        var log = JobEvents.Read(f.Store, f.JobId);
        Assert.DoesNotContain(log, e => e.Type == JobEvents.BudgetAlert); // the broken row is skipped
        Assert.Equal(["step", "gpu_throttle", "step"], log.Where(e => e.Type is "step" or "gpu_throttle").Select(e => e.Type));
        // Only the typed step decides: one metrics row.
        Assert.Equal(1, Assert.Single(JobProjection.MetricRows(log)).Step);
    }

    private static void JobEventsTestRow(Microsoft.Data.Sqlite.SqliteConnection c, string jobId) =>
        Sql.Execute(c, "INSERT INTO events (agent_id, seq, job_id, type, json, at, ingest_id) VALUES ('', 999999, $j, 'budget_alert', '{\"threshold\":\"x\"}', 't', 999999)", ("$j", jobId));
}
