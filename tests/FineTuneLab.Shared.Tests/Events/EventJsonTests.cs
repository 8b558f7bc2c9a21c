using FineTuneLab.Events;

namespace FineTuneLab.Shared.Tests.Events;

public class EventJsonTests
{
    private static readonly MemoryFigures Memory = new(1, 2, 3, 4, 5);

    public static TheoryData<TrainerEvent> EveryType() => new()
    {
        new StartEvent("job-1", "cpu", "2-core CPU", 1 << 30, null, 2, 100, 4096, 0) { Seq = 1, DeviceNote = "no driver" },
        new StepEvent(3, 100, 0.03, 2.5, 1e-4, 0.7, 1000, 4, 1.5, 1024, Memory, new PreferenceFigures(0.5, 0.75, 1, -1, 4)) { Seq = 2 },
        new EvalEvent(10, 2.1, 0.4, 8.2, 512) { Seq = 3 },
        new CheckpointEvent(10, "/out/checkpoints/10", 1234, new string('a', 64)) { Seq = 4 },
        new LogEvent("info", "hello") { Seq = 5 },
        new WarningEvent("loss_spike", "loss jumped", 11) { Seq = 6 },
        new ErrorEvent("CUDA out of memory", "OutOfMemoryException", null) { Seq = 7 },
        new DoneEvent("completed", 100, null, 12.5) { Seq = 8, Time = DateTimeOffset.UnixEpoch.AddSeconds(1) },
    };

    [Theory]
    [MemberData(nameof(EveryType))]
    public void Every_event_type_round_trips(TrainerEvent written)
    {
        var line = EventJson.Serialize(written);
        Assert.StartsWith("{", line);
        Assert.Contains($"\"type\":\"{EventJson.TypeName(written)}\"", line);
        Assert.DoesNotContain("null", line); // the writer leaves nulls out; the reader must accept that
        Assert.True(EventJson.TryParse(line, out var read, out var error), error);
        // Records compare by value, but a nested record (memory, dpo) compares by reference-free value too.
        Assert.Equal(line, EventJson.Serialize(read));
        Assert.Equal(written.GetType(), read.GetType());
    }

    [Fact]
    public void Property_order_does_not_matter_and_unknown_fields_are_ignored()
    {
        var line = """{"message":"hi","level":"info","seq":9,"v":1,"time":"2026-12-07T00:00:00+00:00","added_later":[1,2],"type":"log"}""";
        Assert.True(EventJson.TryParse(line, out var e, out var error), error);
        Assert.Equal(new LogEvent("info", "hi") { Seq = 9, Time = new DateTimeOffset(2026, 12, 7, 0, 0, 0, TimeSpan.Zero) }, e);
    }

    [Fact]
    public void Non_finite_losses_are_read_back()
    {
        var line = EventJson.Serialize(new StepEvent(1, 1, 0, double.NaN, 0, double.PositiveInfinity, 0, 0, 0, 0, Memory) { Seq = 1 });
        Assert.Contains("\"loss\":\"NaN\"", line);
        Assert.True(EventJson.TryParse(line, out var e, out _));
        Assert.True(double.IsNaN(((StepEvent)e).Loss));
    }

    [Theory]
    [InlineData("""{"v":1,"seq":1,"type":"teleport"}""", "unknown event type 'teleport'")]
    [InlineData("""{"v":1,"seq":1,"message":"x"}""", "field 'type' is missing")]
    [InlineData("""{"v":1,"seq":1,"type":7}""", "field 'type' must be a string")]
    [InlineData("""[1,2]""", "an event must be a JSON object")]
    [InlineData("""{"v":2,"seq":1,"type":"log","level":"info","message":"x"}""", "newer than this reader's v1")]
    [InlineData("""{"v":1,"seq":0,"type":"log","level":"info","message":"x"}""", "'seq' must be at least 1")]
    [InlineData("""{"v":1,"seq":1,"type":"log","level":"info"}""", "message")]
    [InlineData("""{"v":1,"seq":1,"type":"log","level":null,"message":"x"}""", "level")]
    [InlineData("""{"v":1,"seq":1,"type":"step","step":"three"}""", "$.step")]
    [InlineData("""{"v":1,"seq":1,"type":"log","level":"info","mess""", "(line 1, byte")]
    [InlineData("null", "JSON null")]
    [InlineData(""" {"v":1,"seq":1,"type":"log","level":"info","message":"x"} trailing""", "byte")]
    public void Malformed_events_are_refused_with_a_reason(string line, string reason)
    {
        Assert.False(EventJson.TryParse(line, out var e, out var error));
        Assert.Null(e);
        Assert.Contains(reason, error);
    }

    [Fact]
    public void A_step_without_its_loss_is_refused_rather_than_read_as_zero()
    {
        var line = EventJson.Serialize(new StepEvent(1, 10, 0, 2.5, 0, 0, 0, 0, 0, 0, Memory) { Seq = 1 }).Replace("\"loss\":2.5,", "");
        Assert.False(EventJson.TryParse(line, out _, out var error));
        Assert.Contains("loss", error);
    }
}
