using FineTuneLab.Agent.Outbox;
using FineTuneLab.Agent.Session;
using FineTuneLab.Shared.Protos.Agent.V1;

namespace FineTuneLab.Agent.Tests.Session;

public sealed class OutboxBatchingTests
{
    [Fact]
    public void Consecutive_items_share_a_message_and_state_changes_travel_alone_in_order()
    {
        var records = new List<OutboxRecord>();
        ulong seq = 0;
        void Add(AgentMessage m) => records.Add(new OutboxRecord(++seq, m));
        for (var i = 0; i < 3; i++) Add(OutboxRecord.Wrap(new TelemetryPoint { Seq = seq + 1, Metric = "gpu.util" }));
        Add(OutboxRecord.Wrap(new TrainerEvent { Seq = seq + 1, Step = new StepEvent() }));
        Add(OutboxRecord.Wrap(new JobStateChange { Seq = seq + 1, State = JobState.Running }));
        Add(OutboxRecord.Wrap(new LogLine { Seq = seq + 1, Text = "a" }));
        Add(OutboxRecord.Wrap(new LogLine { Seq = seq + 1, Text = "b" }));

        var messages = OutboxBatches.Pack(records).ToList();

        Assert.Equal([AgentMessage.BodyOneofCase.Telemetry, AgentMessage.BodyOneofCase.JobState, AgentMessage.BodyOneofCase.Logs],
            messages.Select(m => m.BodyCase));
        Assert.Equal([1UL, 2, 3], messages[0].Telemetry.Points.Select(p => p.Seq));
        Assert.Equal(4UL, messages[0].Telemetry.Events.Single().Seq);
        Assert.Equal(5UL, messages[1].JobState.Seq);
        Assert.Equal(["a", "b"], messages[2].Logs.Lines.Select(l => l.Text));
    }
}
