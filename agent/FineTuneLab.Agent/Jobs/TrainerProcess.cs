using System.Diagnostics;
using FineTuneLab.Events;

namespace FineTuneLab.Agent.Jobs;

/// <summary>
/// One <c>ftl-train</c> child process: its stdout JSON lines are parsed once, here, into events (<see cref="EventJson"/>;
/// a line that is not a valid event is refused with the reason, never relayed), its other lines become logs, and it is
/// stopped the way the trainer contract asks (SIGTERM: checkpoint and exit; SIGKILL after a grace period).
/// Pause and resume are SIGSTOP / SIGCONT, so a paused job holds its memory but no CPU or GPU time.
/// </summary>
public sealed class TrainerProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly Task _stdout;
    private readonly Task _stderr;
    private string? _doneReason;
    private string? _errorMessage;
    private string? _stackTrace;

    public sealed record StartInfo(string FileName, IReadOnlyList<string> Arguments, string WorkingDirectory,
        IReadOnlyDictionary<string, string>? Environment = null);

    private TrainerProcess(Process process, Func<TrainerEvent, Task> onEvent, Func<string, bool, Task> onLog, Func<string, string, Task> onRefused)
    {
        _process = process;
        _stdout = PumpAsync(process.StandardOutput, async line =>
        {
            // A line that opens a JSON object means to be an event; any other is the trainer talking.
            if (!line.StartsWith('{'))
            {
                await onLog(line, false);
            }
            else if (EventJson.TryParse(line, out var e, out var error))
            {
                Observe(e);
                await onEvent(e);
            }
            else
            {
                Interlocked.Increment(ref _refused);
                await onRefused(line, error);
            }
        });
        _stderr = PumpAsync(process.StandardError, line => onLog(line, true));
    }

    public int Pid => _process.Id;

    /// <summary>How many stdout lines were refused as events so far.</summary>
    public int RefusedLines => Volatile.Read(ref _refused);
    private int _refused;

    /// <summary>
    /// Starts the trainer. <paramref name="onEvent"/> gets each event, <paramref name="onLog"/> each other line (true:
    /// stderr), <paramref name="onRefused"/> each event line that was refused, with the reason.
    /// </summary>
    public static TrainerProcess Start(StartInfo info, Func<TrainerEvent, Task> onEvent, Func<string, bool, Task> onLog, Func<string, string, Task> onRefused)
    {
        var psi = new ProcessStartInfo(info.FileName)
        {
            WorkingDirectory = info.WorkingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var a in info.Arguments) psi.ArgumentList.Add(a);
        if (info.Environment is not null)
            foreach (var (k, v) in info.Environment) psi.Environment[k] = v;
        var process = Process.Start(psi) ?? throw new InvalidOperationException($"could not start {info.FileName}");
        return new TrainerProcess(process, onEvent, onLog, onRefused);
    }

    public bool Pause() => UnixSignals.Send(_process.Id, UnixSignals.SigStop);

    public bool Resume() => UnixSignals.Send(_process.Id, UnixSignals.SigCont);

    /// <summary>Asks the trainer to checkpoint and exit (SIGTERM); kills it when it has not exited after <paramref name="grace"/>.</summary>
    public async Task StopAsync(TimeSpan grace, CancellationToken cancellationToken = default)
    {
        if (_process.HasExited) return;
        UnixSignals.Send(_process.Id, UnixSignals.SigCont); // a paused trainer cannot act on SIGTERM
        UnixSignals.Send(_process.Id, UnixSignals.SigTerm);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(grace);
        try
        {
            await _process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            Kill();
        }
    }

    /// <summary>Ends the trainer at once (cancel, or a stop past its grace period).</summary>
    public void Kill()
    {
        try { _process.Kill(entireProcessTree: true); }
        catch (InvalidOperationException) { /* already exited */ }
    }

    /// <summary>Waits for the process and both output pumps; the result carries the trainer's last error.</summary>
    public async Task<TrainerExit> WaitAsync(CancellationToken cancellationToken = default)
    {
        await _process.WaitForExitAsync(cancellationToken);
        await Task.WhenAll(_stdout, _stderr);
        var (code, signal) = TrainerExit.Decode(_process.ExitCode);
        return new TrainerExit(code, signal, _doneReason, _errorMessage, _stackTrace);
    }

    private void Observe(TrainerEvent e)
    {
        switch (e)
        {
            case ErrorEvent error:
                _errorMessage = error.Message;
                _stackTrace = error.StackTrace;
                break;
            case DoneEvent done:
                _doneReason = done.Reason;
                break;
        }
    }

    private static async Task PumpAsync(StreamReader reader, Func<string, Task> onLine)
    {
        while (await reader.ReadLineAsync() is { } line)
            await onLine(line);
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited) Kill();
        try { await Task.WhenAll(_stdout, _stderr); } catch (IOException) { }
        _process.Dispose();
    }
}
