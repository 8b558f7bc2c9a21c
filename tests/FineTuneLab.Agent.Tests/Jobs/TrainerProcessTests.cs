using System.Collections.Concurrent;
using FineTuneLab.Agent.Jobs;

namespace FineTuneLab.Agent.Tests.Jobs;

/// <summary>The supervisor against real child processes (bash scripts that speak the trainer's stdout contract).</summary>
public sealed class TrainerProcessTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("ftl-trainerproc-");
    private readonly ConcurrentQueue<TrainerEventLine> _events = new();
    private readonly ConcurrentQueue<(string Line, bool Stderr)> _logs = new();

    private TrainerProcess Start(string script)
    {
        var path = Path.Combine(_dir.FullName, "trainer.sh");
        File.WriteAllText(path, "#!/usr/bin/env bash\n" + script);
        return TrainerProcess.Start(new TrainerProcess.StartInfo("/bin/bash", [path], _dir.FullName),
            e => { _events.Enqueue(e); return Task.CompletedTask; },
            (line, err) => { _logs.Enqueue((line, err)); return Task.CompletedTask; });
    }

    private async Task WaitForEvent(string type)
    {
        for (var i = 0; i < 200 && !_events.Any(e => e.Type == type); i++) await Task.Delay(25);
        Assert.Contains(_events, e => e.Type == type);
    }

    [Fact]
    public async Task Events_and_logs_are_separated_and_a_clean_exit_is_success()
    {
        await using var p = Start("""
            echo '{"v":1,"seq":1,"type":"step","loss":2.5}'
            echo 'plain text on stdout'
            echo 'progress 10%' >&2
            echo '{"v":1,"seq":2,"type":"done","reason":"completed"}'
            """);
        var exit = await p.WaitAsync();
        Assert.True(exit.Succeeded, exit.ToString());
        Assert.Equal(["step", "done"], _events.Select(e => e.Type));
        Assert.Equal(2.5, _events.First().GetDouble("loss"));
        Assert.Contains(("plain text on stdout", false), _logs);
        Assert.Contains(("progress 10%", true), _logs);
    }

    [Fact]
    public async Task A_crash_reports_exit_code_and_the_last_error_with_its_stack_trace()
    {
        await using var p = Start("""
            echo '{"v":1,"seq":1,"type":"error","message":"CUDA out of memory","stack_trace":"at Step()\n at Run()"}'
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
        await using var p = Start("""
            trap 'echo "{\"v\":1,\"seq\":3,\"type\":\"checkpoint\"}"; echo "{\"v\":1,\"seq\":4,\"type\":\"done\",\"reason\":\"stopped\"}"; exit 0' TERM
            echo '{"v":1,"seq":1,"type":"start"}'
            while true; do sleep 0.05; done
            """);
        await WaitForEvent("start");
        await p.StopAsync(TimeSpan.FromSeconds(10));
        var exit = await p.WaitAsync();
        Assert.Equal(0, exit.ExitCode);
        Assert.Equal("stopped", exit.DoneReason);
        Assert.Contains(_events, e => e.Type == "checkpoint");
    }

    [Fact]
    public async Task A_trainer_that_ignores_sigterm_is_killed_after_the_grace_period()
    {
        await using var p = Start("""
            trap '' TERM
            echo '{"v":1,"seq":1,"type":"start"}'
            while true; do sleep 0.05; done
            """);
        await WaitForEvent("start");
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
        await using var p = Start($$"""
            echo '{"v":1,"seq":1,"type":"start"}'
            while true; do echo x >> '{{ticks}}'; sleep 0.02; done
            """);
        await WaitForEvent("start");
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

    public void Dispose() => _dir.Delete(true);
}
