using FineTuneLab.Events;
using FineTuneLab.Shared.Protos;
using Google.Protobuf;
using P = FineTuneLab.Shared.Protos.Agent.V1;

namespace FineTuneLab.Shared.Tests.Protos;

public sealed class TrainerEventMessagesTests
{
    private static readonly DateTimeOffset At = new(2026, 12, 7, 10, 0, 0, 123, TimeSpan.Zero);
    private static readonly MemoryFigures Memory = new(1, 2, 3, 4, 5);
    private static readonly PreferenceFigures Dpo = new(0.5, 0.75, 1.5, -1.0, 8);

    public static TheoryData<TrainerEvent> Events() =>
    [
        new StartEvent("j", "cuda", "H100", 80L << 30, "9.0", 16, 100, 4096, 10) { DeviceNote = "chosen" },
        new StartEvent("j", "cpu", "cpu", 0, null, 2, 10, 64, 0),
        new StepEvent(3, 100, 0.03, double.NaN, 2e-4, 1.25, 1000, 4, 3.5, 768, Memory, Dpo),
        new StepEvent(3, 100, 0.03, 2.5, 2e-4, 1.25, 1000, 4, 3.5, 768, Memory),
        new EvalEvent(50, 1.9, 0.6, 6.7, 2048, Dpo),
        new CheckpointEvent(50, "checkpoints/50", 1 << 20, "ab12"),
        new LogEvent("info", "hello ✓"),
        new WarningEvent("loss_spike", "loss rose", 40),
        new ErrorEvent("CUDA out of memory", "OutOfMemoryException", "at Step()"),
        new ErrorEvent("boom", null, null),
        new DoneEvent("completed", 100, "out/adapter", 12.5),
        new DoneEvent("stopped", 7, null, 1.0),
    ];

    [Theory]
    [MemberData(nameof(Events))]
    public void Every_event_survives_the_message_and_its_wire_bytes(TrainerEvent e)
    {
        e = e with { Seq = 7, Time = At };
        var message = TrainerEventMessages.ToMessage(e);
        var wire = P.TrainerEvent.Parser.ParseFrom(message.ToByteArray());
        var back = TrainerEventMessages.ToRecord(wire);
        Assert.Equal(EventJson.Serialize(e), EventJson.Serialize(back));
    }

    [Fact]
    public void A_message_without_an_event_is_refused_with_the_reason()
    {
        var e = Assert.Throws<InvalidDataException>(() => TrainerEventMessages.ToRecord(new P.TrainerEvent { TrainerSeq = 3, V = 1, JobId = "j" }));
        Assert.Contains("carries no event", e.Message);
        var step = TrainerEventMessages.ToMessage(new StepEvent(1, 1, 1, 1, 1, 1, 1, 1, 1, 1, Memory) with { Seq = 1, Time = At });
        step.Step.Memory = null;
        Assert.Contains("'memory'", Assert.Throws<InvalidDataException>(() => TrainerEventMessages.ToRecord(step)).Message);
    }
}
