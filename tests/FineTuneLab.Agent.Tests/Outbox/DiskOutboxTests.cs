using FineTuneLab.Agent.Outbox;
using FineTuneLab.Shared.Protos.Agent.V1;

namespace FineTuneLab.Agent.Tests.Outbox;

public sealed class DiskOutboxTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("ftl-outbox-");

    private static AgentMessage Point(double value) =>
        OutboxRecord.Wrap(new TelemetryPoint { JobId = "j", Metric = "gpu.util", Value = value, GpuIndex = 0 });

    [Fact]
    public void Items_get_increasing_seqs_and_stay_until_acked()
    {
        using var outbox = new DiskOutbox(_dir.FullName);
        for (var i = 0; i < 5; i++) Assert.Equal((ulong)i + 1, outbox.Append(Point(i)));
        outbox.Append(OutboxRecord.Wrap(new LogLine { Text = "hello", Level = LogLevel.Info }));
        outbox.Append(OutboxRecord.Wrap(new JobStateChange { JobId = "j", State = JobState.Running }));

        var pending = outbox.Pending(0, 100);
        Assert.Equal([1UL, 2, 3, 4, 5, 6, 7], pending.Select(p => p.Seq));
        Assert.Equal(3UL, pending[2].Message.Telemetry.Points[0].Seq);
        Assert.Equal(6UL, pending[5].Message.Logs.Lines[0].Seq);
        Assert.Equal(7UL, pending[6].Message.JobState.Seq);

        outbox.Ack(4);
        Assert.Equal([5UL, 6, 7], outbox.Pending(0, 100).Select(p => p.Seq));
        Assert.Equal([6UL, 7], outbox.Pending(5, 100).Select(p => p.Seq));
        Assert.Equal([5UL], outbox.Pending(0, 1).Select(p => p.Seq));
    }

    [Fact]
    public void A_restart_replays_unacked_items_and_continues_numbering()
    {
        using (var outbox = new DiskOutbox(_dir.FullName))
        {
            for (var i = 0; i < 10; i++) outbox.Append(Point(i));
            outbox.Ack(6);
        }
        using (var reopened = new DiskOutbox(_dir.FullName))
        {
            Assert.Equal(6UL, reopened.AckedSeq);
            Assert.Equal([7UL, 8, 9, 10], reopened.Pending(0, 100).Select(p => p.Seq));
            Assert.Equal(8.0, reopened.Pending(0, 100)[2].Message.Telemetry.Points[0].Value);
            Assert.Equal(11UL, reopened.Append(Point(42)));
        }
    }

    [Fact]
    public void A_record_torn_by_a_crash_is_dropped_and_the_rest_survives()
    {
        using (var outbox = new DiskOutbox(_dir.FullName))
            for (var i = 0; i < 3; i++) outbox.Append(Point(i));
        var segment = Directory.GetFiles(_dir.FullName, "seg-*.log").Single();
        using (var f = new FileStream(segment, FileMode.Append)) f.Write([40, 0, 0, 0, 4, 0, 0]); // half a header

        using var reopened = new DiskOutbox(_dir.FullName);
        Assert.Equal([1UL, 2, 3], reopened.Pending(0, 100).Select(p => p.Seq));
        Assert.Equal(4UL, reopened.Append(Point(3)));
        reopened.Dispose();
        using var again = new DiskOutbox(_dir.FullName);
        Assert.Equal([1UL, 2, 3, 4], again.Pending(0, 100).Select(p => p.Seq));
    }

    [Fact]
    public void Fully_acked_segments_are_deleted()
    {
        using var outbox = new DiskOutbox(_dir.FullName, segmentBytes: 200);
        for (var i = 0; i < 50; i++) outbox.Append(Point(i));
        var before = Directory.GetFiles(_dir.FullName, "seg-*.log").Length;
        Assert.True(before > 3, $"expected several segments, got {before}");
        outbox.Ack(50);
        Assert.Single(Directory.GetFiles(_dir.FullName, "seg-*.log"));
        Assert.Equal(0, outbox.PendingCount);
    }

    [Fact]
    public void An_ack_beyond_what_was_written_cannot_hide_future_items()
    {
        using var outbox = new DiskOutbox(_dir.FullName);
        outbox.Append(Point(1));
        outbox.Ack(1000);
        Assert.Equal(1UL, outbox.AckedSeq);
        outbox.Append(Point(2));
        Assert.Single(outbox.Pending(0, 10));
    }

    public void Dispose() => _dir.Delete(true);
}
