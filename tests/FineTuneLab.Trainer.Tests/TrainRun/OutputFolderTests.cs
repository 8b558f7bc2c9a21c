using System.Text.Json;
using FineTuneLab.Trainer.Jobs;
using FineTuneLab.Trainer.Training;
using FineTuneLab.Trainer.Training.Run;

namespace FineTuneLab.Trainer.Tests.TrainRun;

/// <summary>
/// A run owns its output folder, and does not outlive the process that started it (trainer/README.md): the faults
/// behind them are an agent SIGKILLed while its trainer runs, and the restarted agent starting a second trainer there.
/// </summary>
[Collection(TrainRunCollection.Name)]
public sealed class OutputFolderTests(TrainRunFixture fixture)
{
    [Fact]
    public async Task The_end_of_stdin_stops_a_run_started_with_stop_at_end_of_input()
    {
        var output = Path.Combine(fixture.Folder, "orphan");
        using var run = TrainProcess.Start("--config", fixture.WriteJob(Path.Combine(fixture.Folder, "orphan.json"), 500), "--out", output,
            "--threads", "2", "--stop-at-end-of-input");
        Assert.NotNull(await run.ReadUntilAsync(e => TrainProcess.IsType(e, "step")));
        run.CloseStdin();
        var (code, err) = await run.WaitAsync();
        Assert.True(code == 0, $"exit {code}:\n{err}");
        var done = run.Events[^1];
        Assert.Equal("stopped", done.GetProperty("reason").GetString());
        Assert.Equal(done.GetProperty("step").GetInt64(), run.Events.Last(e => TrainProcess.IsType(e, "checkpoint")).GetProperty("step").GetInt64());
    }

    [Fact]
    public async Task A_second_run_on_a_busy_output_folder_waits_for_the_first_and_never_interleaves_with_it()
    {
        var output = Path.Combine(fixture.Folder, "busy");
        var job = fixture.WriteJob(Path.Combine(fixture.Folder, "busy.json"), 500);
        using var first = TrainProcess.Start("--config", job, "--out", output, "--threads", "1");
        Assert.NotNull(await first.ReadUntilAsync(e => TrainProcess.IsType(e, "step")));
        using var second = TrainProcess.Start("--config", fixture.Job, "--out", output, "--threads", "1");
        await Task.Delay(TimeSpan.FromSeconds(2)); // the second is waiting for the lock meanwhile
        await first.WriteStdinAsync("stop");
        var (firstCode, firstErr) = await first.WaitAsync();
        Assert.True(firstCode == 0, firstErr);
        var (code, err) = await second.WaitAsync();
        Assert.True(code == 0, $"exit {code}:\n{err}");
        Assert.Contains($"is in use by another ftl-train (pid {first.Pid})", err);

        // One file, two whole runs one after the other: seq strictly increasing, no torn line, the second starting after the first's done.
        var lines = File.ReadAllLines(Path.Combine(output, "events.jsonl")).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        var seqs = lines.Select(e => e.GetProperty("seq").GetInt64()).ToList();
        Assert.Equal(seqs.Order(), seqs);
        Assert.Equal(seqs.Count, seqs.Distinct().Count());
        var firstDone = lines.FindIndex(e => TrainProcess.IsType(e, "done"));
        Assert.Equal(first.Events.Count, firstDone + 1);
        Assert.Equal("start", lines[firstDone + 1].GetProperty("type").GetString());
        Assert.Equal("completed", lines[^1].GetProperty("reason").GetString());
    }

    [Fact]
    public async Task A_run_refuses_a_folder_that_stays_locked_and_writes_nothing_into_it()
    {
        var output = Path.Combine(fixture.Folder, "locked");
        Directory.CreateDirectory(output);
        using var holder = await OutputLock.AcquireAsync(output, TimeSpan.Zero, _ => { }, CancellationToken.None);
        var spec = JobSpecParser.Load(fixture.Job);
        using var stop = new StopRequest();
        var waited = new List<string>();
        var stdout = new StringWriter();
        var run = new TrainingRun(new TrainingRunOptions(spec, fixture.Job, new RunOutput(output), OutputLockWait: TimeSpan.FromSeconds(1)), stdout, stop);
        Assert.Equal(2, await run.ExecuteAsync());
        Assert.Equal("", stdout.ToString());
        Assert.Equal([OutputLock.FileName, OutputLock.PidFileName], Directory.GetFiles(output).Select(Path.GetFileName).Order(StringComparer.Ordinal));
    }
}
