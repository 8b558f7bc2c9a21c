using System.Collections.Concurrent;
using FineTuneLab.Agent.Jobs;
using FineTuneLab.Events;

namespace FineTuneLab.Agent.Tests.Jobs;

/// <summary>The supervisor against real child processes (bash scripts that speak the trainer's stdout contract).</summary>
public sealed class TrainerProcessTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("ftl-trainerproc-");
    private readonly ConcurrentQueue<TrainerEvent> _events = new();
    private readonly ConcurrentQueue<(string Line, bool Stderr)> _logs = new();
    private readonly ConcurrentQueue<(string Line, string Reason)> _refused = new();

    // Whole events of the contract (docs/trainer-events.md), as the trainer writes them.
    private const string Time = "\"time\":\"2026-12-07T10:00:00Z\"";
    private static string StartLine(int seq) => $$"""{"v":1,"seq":{{seq}},{{Time}},"type":"start","job":"j","device":"cpu","device_name":"cpu","device_memory_bytes":0,"threads":1,"total_steps":3,"tokens_per_epoch":10,"resumed_from_step":0}""";
    private static string StepLine(int seq, double loss) => $$$"""{"v":1,"seq":{{{seq}}},{{{Time}}},"type":"step","step":{{{seq}}},"total_steps":3,"epoch":0.5,"loss":{{{loss}}},"lr":0.0002,"grad_norm":1,"tokens_per_s":100,"samples_per_s":1,"elapsed_s":1,"tokens":64,"memory":{"rss_bytes":1,"peak_rss_bytes":1,"device_allocated_bytes":0,"device_reserved_bytes":0,"device_peak_bytes":0}}""";
    private static string DoneLine(int seq, string reason) => $$"""{"v":1,"seq":{{seq}},{{Time}},"type":"done","reason":"{{reason}}","step":1,"elapsed_s":1}""";
    private static string CheckpointLine(int seq) => $$"""{"v":1,"seq":{{seq}},{{Time}},"type":"checkpoint","step":1,"path":"checkpoints/1","bytes":10,"sha256":"ab"}""";
    private static string ErrorLine(int seq) => $$"""{"v":1,"seq":{{seq}},{{Time}},"type":"error","message":"CUDA out of memory","stack_trace":"at Step()\n at Run()"}""";
    private static string Quoted(string line) => "'" + line + "'";
    private static string Escaped(string line) => "\"" + line.Replace("\"", "\\\"") + "\"";

    private TrainerProcess Start(string script)
    {
        var path = Path.Combine(_dir.FullName, "trainer.sh");
        File.WriteAllText(path, "#!/usr/bin/env bash\n" + script);
        return TrainerProcess.Start(new TrainerProcess.StartInfo("/bin/bash", [path], _dir.FullName),
            e => { _events.Enqueue(e); return Task.CompletedTask; },
            (line, err) => { _logs.Enqueue((line, err)); return Task.CompletedTask; },
            (line, reason) => { _refused.Enqueue((line, reason)); return Task.CompletedTask; });
    }

    private async Task WaitForEvent<T>() where T : TrainerEvent
    {
        for (var i = 0; i < 200 && !_events.OfType<T>().Any(); i++) await Task.Delay(25);
        Assert.NotEmpty(_events.OfType<T>());
    }

    [Fact]
    public async Task Events_and_logs_are_separated_and_a_clean_exit_is_success()
    {
        await using var p = Start($"""
            echo {Quoted(StepLine(1, 2.5))}
            echo 'plain text on stdout'
            echo 'progress 10%' >&2
            echo {Quoted(DoneLine(2, "completed"))}
            """);
        var exit = await p.WaitAsync();
        Assert.True(exit.Succeeded, exit.ToString());
        Assert.Equal(["step", "done"], _events.Select(EventJson.TypeName));
        Assert.Equal(2.5, Assert.IsType<StepEvent>(_events.First()).Loss);
        Assert.Empty(_refused);
        Assert.Contains(("plain text on stdout", false), _logs);
        Assert.Contains(("progress 10%", true), _logs);
    }

    [Fact]
    public async Task A_crash_reports_exit_code_and_the_last_error_with_its_stack_trace()
    {
        await using var p = Start($"""
            echo {Quoted(ErrorLine(1))}
            exit 3
            """);
        var exit = await p.WaitAsync();
        Assert.False(exit.Succeeded);
        Assert.Equal(3, exit.ExitCode);
        Assert.Equal(0, exit.Signal);
        Assert.Equal("CUDA out of memory", exit.ErrorMessage);
        Assert.Contains("at Run()", exit.StackTrace);
    }

    [Fact]
    public async Task Stop_sends_sigterm_and_the_trainer_checkpoints_and_exits()
    {
        await using var p = Start($"""
            trap 'echo {Escaped(CheckpointLine(3))}; echo {Escaped(DoneLine(4, "stopped"))}; exit 0' TERM
            echo {Quoted(StartLine(1))}
            while true; do sleep 0.05; done
            """);
        await WaitForEvent<StartEvent>();
        await p.StopAsync(TimeSpan.FromSeconds(10));
        var exit = await p.WaitAsync();
        Assert.Equal(0, exit.ExitCode);
        Assert.Equal("stopped", exit.DoneReason);
        Assert.Contains(_events, e => e is CheckpointEvent);
    }

    [Fact]
    public async Task A_trainer_that_ignores_sigterm_is_killed_after_the_grace_period()
    {
        await using var p = Start($"""
            trap '' TERM
            echo {Quoted(StartLine(1))}
            while true; do sleep 0.05; done
            """);
        await WaitForEvent<StartEvent>();
        var started = DateTime.UtcNow;
        await p.StopAsync(TimeSpan.FromMilliseconds(500));
        var exit = await p.WaitAsync();
        Assert.Equal(9, exit.Signal);
        Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task Pause_freezes_the_trainer_and_resume_lets_it_go_on()
    {
        var ticks = Path.Combine(_dir.FullName, "ticks");
        await using var p = Start($"""
            echo {Quoted(StartLine(1))}
            while true; do echo x >> '{ticks}'; sleep 0.02; done
            """);
        await WaitForEvent<StartEvent>();
        await Task.Delay(200);
        Assert.True(p.Pause());
        await Task.Delay(100);
        var paused = File.ReadAllLines(ticks).Length;
        await Task.Delay(400);
        Assert.Equal(paused, File.ReadAllLines(ticks).Length);
        Assert.True(p.Resume());
        await Task.Delay(400);
        Assert.True(File.ReadAllLines(ticks).Length > paused);
        p.Kill();
        await p.WaitAsync();
    }

    [Fact]
    public async Task A_malformed_or_unknown_event_line_is_refused_with_its_reason_and_not_relayed()
    {
        await using var p = Start($"""
            echo '{"{"}"v":1,"seq":1,"type":"step","loss":2.5{"}"}'
            echo '{"{"}"v":1,"seq":2,"type":"gpu_throttle"{"}"}'
            echo '{"{"}not json'
            echo {Quoted(DoneLine(3, "completed"))}
            """);
        var exit = await p.WaitAsync();
        Assert.True(exit.Succeeded, exit.ToString());
        Assert.Equal(["done"], _events.Select(EventJson.TypeName));
        Assert.Equal(3, p.RefusedLines);
        var reasons = _refused.Select(r => r.Reason).ToList();
        Assert.Contains("step", reasons[0]);
        Assert.Contains("unknown event type 'gpu_throttle'", reasons[1]);
        Assert.DoesNotContain(_logs, l => l.Line.StartsWith('{'));
    }

    public void Dispose() => _dir.Delete(true);
}
