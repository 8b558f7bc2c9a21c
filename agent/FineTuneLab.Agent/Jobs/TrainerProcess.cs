using System.Diagnostics;
using System.Text.Json;

namespace FineTuneLab.Agent.Jobs;

/// <summary>
/// One <c>ftl-train</c> child process: its stdout JSON lines become events, its stderr lines become logs, and it is
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

    private TrainerProcess(Process process, Func<TrainerEventLine, Task> onEvent, Func<string, bool, Task> onLog)
    {
        _process = process;
        _stdout = PumpAsync(process.StandardOutput, async line =>
        {
            if (TrainerEventLine.TryParse(line, out var e))
            {
                Observe(e);
                await onEvent(e);
            }
            else
            {
                await onLog(line, false);
            }
        });
        _stderr = PumpAsync(process.StandardError, line => onLog(line, true));
    }

    public int Pid => _process.Id;

    /// <summary>Starts the trainer. <paramref name="onEvent"/> gets each event line, <paramref name="onLog"/> each other line (true: stderr).</summary>
    public static TrainerProcess Start(StartInfo info, Func<TrainerEventLine, Task> onEvent, Func<string, bool, Task> onLog)
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
        return new TrainerProcess(process, onEvent, onLog);
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

    private void Observe(TrainerEventLine e)
    {
        if (e.Type == "error")
        {
            _errorMessage = e.GetString("message");
            _stackTrace = e.GetString("stack_trace");
        }
        else if (e.Type == "done")
        {
            _doneReason = e.GetString("reason");
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

/// <summary>One JSON line of the trainer's event stream, kept verbatim (the agent relays it unchanged).</summary>
public sealed record TrainerEventLine(string Json, string Type, ulong Seq, JsonElement Root)
{
    public static bool TryParse(string line, out TrainerEventLine e)
    {
        e = null!;
        if (line.Length == 0 || line[0] != '{') return false;
        try
        {
            using var doc = JsonDocument.Parse(line);
            var root = doc.RootElement;
            if (!root.TryGetProperty("type", out var type) || type.ValueKind != JsonValueKind.String) return false;
            var seq = root.TryGetProperty("seq", out var s) && s.TryGetUInt64(out var n) ? n : 0;
            e = new TrainerEventLine(line, type.GetString()!, seq, root.Clone());
            return true;
        }
        catch (JsonException)
        {
            return false;
        }
    }

    public string? GetString(string name) =>
        Root.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    public double? GetDouble(string name) =>
        Root.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetDouble() : null;
}
