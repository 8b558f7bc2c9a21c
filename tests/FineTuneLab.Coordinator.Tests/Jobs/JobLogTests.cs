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
    public void A_message_the_contract_does_not_describe_is_refused_at_the_edge_and_a_broken_coordinator_row_is_skipped()
    {
        using var f = new RunningJobFixture();
        f.TrainerEvent(TestEvents.Step(1, elapsedS: 10));
        // What the typed protocol cannot describe: a message with no event set, a step without its memory figures.
        var raw = new AgentMessage { Telemetry = new TelemetryBatch { Events =
        {
            new FineTuneLab.Shared.Protos.Agent.V1.TrainerEvent { Seq = 100, JobId = f.JobId, TrainerSeq = 2, V = 1, At = Timestamp.FromDateTime(DateTime.UtcNow) },
            new FineTuneLab.Shared.Protos.Agent.V1.TrainerEvent { Seq = 101, JobId = f.JobId, TrainerSeq = 3, V = 1, At = Timestamp.FromDateTime(DateTime.UtcNow),
                Step = new FineTuneLab.Shared.Protos.Agent.V1.StepEvent { Step = 2, TotalSteps = 10, Loss = 1 } },
        } } };
        var typed = IncomingEvents.Parse(f.AgentId, raw, NullLogger.Instance);
        Assert.Empty(typed); // both refused at the edge, with the reason logged
        Assert.Equal(101UL, f.Runtime.Ingest.Persist(f.AgentId, [raw])); // every seq is acked, the refused ones too

        using (var c = f.Store.OpenConnection())
            JobEventsTestRow(c, f.JobId);
        var log = JobEvents.Read(f.Store, f.JobId);
        Assert.DoesNotContain(log, e => e.Type == JobEvents.BudgetAlert); // the broken row is skipped
        Assert.Equal(["step"], log.Where(e => e.Type is "step").Select(e => e.Type));
        // Only the typed step decides: one metrics row.
        Assert.Equal(1, Assert.Single(JobProjection.MetricRows(log)).Step);
    }

    private static void JobEventsTestRow(Microsoft.Data.Sqlite.SqliteConnection c, string jobId) =>
        Sql.Execute(c, "INSERT INTO events (agent_id, seq, job_id, type, json, at, ingest_id) VALUES ('', 999999, $j, 'budget_alert', '{\"threshold\":\"x\"}', 't', 999999)", ("$j", jobId));
}
