using System.Diagnostics;
using System.Globalization;
using Microsoft.Extensions.Logging;

namespace FineTuneLab.Agent.Node;

/// <summary>
/// Runs the configured shutdown command once after the agent has had no job for <c>after</c>: a rented node that sits
/// idle stops billing. A job that arrives afterwards re-arms it. The command runs through <c>/bin/sh -c</c>; its
/// output and exit code are logged and reported (<paramref name="report"/>), so the coordinator's log shows why the node left.
/// </summary>
public sealed class IdleShutdown(TimeSpan after, string command, Func<bool> busy, Action<string> report, ILogger log)
{
    private static readonly TimeSpan CommandTimeout = TimeSpan.FromMinutes(5);

    /// <summary>How many times the command has run (once per idle period).</summary>
    public int Runs { get; private set; }

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        var idleSince = DateTime.UtcNow;
        var armed = true;
        var tick = TimeSpan.FromMilliseconds(Math.Clamp(after.TotalMilliseconds / 4, 50, 1000));
        using var timer = new PeriodicTimer(tick);
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken))
            {
                if (busy())
                {
                    idleSince = DateTime.UtcNow;
                    armed = true;
                    continue;
                }
                if (!armed || DateTime.UtcNow - idleSince < after) continue;
                armed = false;
                await RunCommandAsync(DateTime.UtcNow - idleSince, cancellationToken);
            }
        }
        catch (OperationCanceledException) { }
    }

    private async Task RunCommandAsync(TimeSpan idle, CancellationToken cancellationToken)
    {
        Runs++;
        var what = $"idle for {idle.TotalSeconds:0} s (--idle-shutdown-after {after.TotalSeconds:0.###} s): running the idle shutdown command: {command}";
        log.LogWarning("{What}", what);
        report(what);
        var psi = new ProcessStartInfo("/bin/sh") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add(command);
        string outcome;
        try
        {
            using var process = Process.Start(psi) ?? throw new InvalidOperationException("could not start /bin/sh");
            var stdout = process.StandardOutput.ReadToEndAsync(cancellationToken);
            var stderr = process.StandardError.ReadToEndAsync(cancellationToken);
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(CommandTimeout);
            try
            {
                await process.WaitForExitAsync(timeout.Token);
                var output = (await stdout + await stderr).Trim();
                outcome = $"idle shutdown command exited with code {process.ExitCode}" + (output.Length > 0 ? $": {Truncate(output)}" : "");
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                process.Kill(entireProcessTree: true);
                outcome = $"idle shutdown command did not finish within {CommandTimeout.TotalMinutes} minutes and was killed";
            }
        }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or InvalidOperationException)
        {
            outcome = $"idle shutdown command could not start: {e.Message}";
        }
        log.LogWarning("{Outcome}", outcome);
        report(outcome);
    }

    private static string Truncate(string s) => s.Length <= 2000 ? s : s[..2000] + "…";

    /// <summary>Reads a duration: a number of seconds, or a number with a unit s, m, h or d ("90s", "30m", "1.5h").</summary>
    public static TimeSpan ParseDuration(string text, string option)
    {
        var t = text.Trim();
        var unit = t.Length > 0 && char.IsLetter(t[^1]) ? char.ToLowerInvariant(t[^1]) : 's';
        var number = char.IsLetter(t.Length > 0 ? t[^1] : '0') ? t[..^1] : t;
        var scale = unit switch { 's' => 1.0, 'm' => 60.0, 'h' => 3600.0, 'd' => 86400.0, _ => double.NaN };
        if (double.IsNaN(scale) || !double.TryParse(number, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) || value <= 0 || !double.IsFinite(value))
            throw new ArgumentException($"{option} '{text}' is not a positive duration (seconds, or a number with s, m, h or d: 90s, 30m, 1.5h)");
        return TimeSpan.FromSeconds(value * scale);
    }
}
