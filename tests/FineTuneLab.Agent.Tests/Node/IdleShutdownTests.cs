using FineTuneLab.Agent.Node;
using Microsoft.Extensions.Logging.Abstractions;

namespace FineTuneLab.Agent.Tests.Node;

/// <summary>The idle shutdown with a real shell command that leaves a file behind.</summary>
public sealed class IdleShutdownTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("ftl-idle-");

    [Fact]
    public async Task After_the_idle_time_the_command_runs_once_and_its_outcome_is_reported()
    {
        var marker = Path.Combine(_dir.FullName, "stopped");
        var reports = new List<string>();
        var shutdown = new IdleShutdown(TimeSpan.FromMilliseconds(400), $"echo node-off >> '{marker}'", () => false,
            r => { lock (reports) reports.Add(r); }, NullLogger.Instance);
        using var cts = new CancellationTokenSource();
        var run = shutdown.RunAsync(cts.Token);
        await WaitForAsync(() => File.Exists(marker));
        await Task.Delay(1000); // still idle: it must not run again
        await cts.CancelAsync();
        await run;

        Assert.Equal(["node-off"], File.ReadAllLines(marker));
        Assert.Equal(1, shutdown.Runs);
        lock (reports)
        {
            Assert.Contains(reports, r => r.Contains("running the idle shutdown command", StringComparison.Ordinal) && r.Contains(marker, StringComparison.Ordinal));
            Assert.Contains(reports, r => r.Contains("exited with code 0", StringComparison.Ordinal));
        }
    }

    [Fact]
    public async Task A_job_holds_it_off_and_re_arms_it_for_the_next_idle_period()
    {
        var marker = Path.Combine(_dir.FullName, "count");
        var busy = true;
        var shutdown = new IdleShutdown(TimeSpan.FromMilliseconds(300), $"echo x >> '{marker}'", () => Volatile.Read(ref busy), _ => { }, NullLogger.Instance);
        using var cts = new CancellationTokenSource();
        var run = shutdown.RunAsync(cts.Token);
        await Task.Delay(900);
        Assert.False(File.Exists(marker)); // busy the whole time

        Volatile.Write(ref busy, false);
        await WaitForAsync(() => File.Exists(marker));
        Volatile.Write(ref busy, true); // a new job arrives, then ends
        await Task.Delay(300);
        Volatile.Write(ref busy, false);
        await WaitForAsync(() => File.ReadAllLines(marker).Length == 2);
        await cts.CancelAsync();
        await run;
        Assert.Equal(2, shutdown.Runs);
    }

    [Fact]
    public async Task A_failing_command_is_reported_with_its_exit_code_and_output()
    {
        var reports = new List<string>();
        var shutdown = new IdleShutdown(TimeSpan.FromMilliseconds(100), "echo no permission >&2; exit 3", () => false,
            r => { lock (reports) reports.Add(r); }, NullLogger.Instance);
        using var cts = new CancellationTokenSource();
        var run = shutdown.RunAsync(cts.Token);
        await WaitForAsync(() => { lock (reports) return reports.Count == 2; });
        await cts.CancelAsync();
        await run;
        Assert.Contains("exited with code 3: no permission", reports[1]);
    }

    [Theory]
    [InlineData("90", 90)]
    [InlineData("90s", 90)]
    [InlineData("30m", 1800)]
    [InlineData("1.5h", 5400)]
    [InlineData("1d", 86400)]
    public void Durations_read_seconds_or_a_unit(string text, double seconds) =>
        Assert.Equal(TimeSpan.FromSeconds(seconds), IdleShutdown.ParseDuration(text, "--idle-shutdown-after"));

    [Theory]
    [InlineData("")]
    [InlineData("-5m")]
    [InlineData("0")]
    [InlineData("10w")]
    [InlineData("soon")]
    public void Bad_durations_are_refused_naming_the_option(string text) =>
        Assert.Contains("--idle-shutdown-after", Assert.Throws<ArgumentException>(() => IdleShutdown.ParseDuration(text, "--idle-shutdown-after")).Message);

    private static async Task WaitForAsync(Func<bool> condition)
    {
        for (var i = 0; i < 200 && !condition(); i++) await Task.Delay(50);
        Assert.True(condition(), "timed out");
    }

    public void Dispose() => _dir.Delete(recursive: true);
}
