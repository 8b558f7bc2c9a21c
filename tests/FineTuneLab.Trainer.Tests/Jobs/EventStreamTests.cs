using System.Text.Json;
using FineTuneLab.Trainer.Events;

namespace FineTuneLab.Trainer.Tests.Jobs;

public class EventStreamTests
{
    [Fact]
    public void Events_are_snake_case_json_lines_with_increasing_seq_in_both_sinks()
    {
        var dir = Directory.CreateTempSubdirectory("ftl-events-");
        try
        {
            var file = Path.Combine(dir.FullName, "events.jsonl");
            var stdout = new StringWriter();
            using (var stream = new EventStream(stdout, file))
            {
                stream.Emit(new LogEvent("info", "hello"));
                stream.Emit(new StepEvent(1, 10, 0.1, 2.5, 1e-4, 0.7, 1000, 4, 1.5, 1024, new MemoryFigures(1, 2, 0, 0, 0)));
                stream.Emit(new DoneEvent("completed", 1, "/out/adapter", 2));
            }
            var lines = stdout.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.Equal(lines, File.ReadAllLines(file));
            Assert.Equal(3, lines.Length);
            // What the trainer writes is what the agent's edge reads: the contract's one parser takes every line.
            foreach (var line in lines)
                Assert.True(FineTuneLab.Events.EventJson.TryParse(line, out _, out var error), error);

            using var step = JsonDocument.Parse(lines[1]);
            var root = step.RootElement;
            Assert.Equal("step", root.GetProperty("type").GetString());
            Assert.Equal(2, root.GetProperty("seq").GetInt64());
            Assert.Equal(1, root.GetProperty("v").GetInt32());
            Assert.Equal(2.5, root.GetProperty("loss").GetDouble());
            Assert.Equal(1000, root.GetProperty("tokens_per_s").GetDouble());
            Assert.Equal(2, root.GetProperty("memory").GetProperty("peak_rss_bytes").GetInt64());

            // A resumed run continues the numbering, even past a line torn by a kill.
            File.AppendAllText(file, "{\"v\":1,\"seq\":4,\"type\":\"lo");
            Assert.Equal(3, EventStream.ReadLastSeq(file));
            using var resumed = new EventStream(new StringWriter(), file, EventStream.ReadLastSeq(file));
            Assert.Equal(4, resumed.Emit(new LogEvent("info", "resumed")).Seq);
        }
        finally { dir.Delete(true); }
    }

    [Fact]
    public void Non_finite_losses_survive_serialization()
    {
        var stdout = new StringWriter();
        using var stream = new EventStream(stdout, null);
        stream.Emit(new StepEvent(1, 1, 0, double.NaN, 0, double.PositiveInfinity, 0, 0, 0, 0, new MemoryFigures(0, 0, 0, 0, 0)));
        Assert.Contains("\"loss\":\"NaN\"", stdout.ToString());
    }
}
