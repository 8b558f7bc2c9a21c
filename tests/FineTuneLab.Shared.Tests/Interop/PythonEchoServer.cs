using System.Collections.Concurrent;
using System.Diagnostics;
using FineTuneLab.TestSupport;

namespace FineTuneLab.Shared.Tests.Interop;

/// <summary>scripts/grpc-interop/echo_server.py (python grpcio) as a child process; its stdout lines are collected.</summary>
public sealed class PythonEchoServer : IAsyncLifetime
{
    private Process? _process;
    private readonly ConcurrentQueue<string> _lines = new();
    private readonly TaskCompletionSource<int> _port = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public string Address { get; private set; } = "";
    public string Script => Path.Combine(RepoPaths.Scripts, "grpc-interop", "echo_server.py");

    public async Task InitializeAsync()
    {
        var psi = new ProcessStartInfo(ExternalProcess.DebianPython)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        psi.ArgumentList.Add(Script);
        psi.ArgumentList.Add("--gzip"); // responses come gzip-compressed: our client must decompress them
        _process = Process.Start(psi) ?? throw new InvalidOperationException("could not start echo_server.py");
        _process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null) return;
            if (e.Data.StartsWith("PORT ", StringComparison.Ordinal))
                _port.TrySetResult(int.Parse(e.Data[5..]));
            else
                _lines.Enqueue(e.Data);
        };
        var stderr = new System.Text.StringBuilder();
        _process.ErrorDataReceived += (_, e) => { lock (stderr) stderr.AppendLine(e.Data); };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        var exited = _process.WaitForExitAsync();
        var first = await Task.WhenAny(_port.Task, exited, Task.Delay(TimeSpan.FromSeconds(60)));
        if (first != _port.Task)
            throw new InvalidOperationException($"echo_server.py did not report its port:\n{stderr}");
        Address = $"http://127.0.0.1:{await _port.Task}";
    }

    /// <summary>Waits until the server printed <paramref name="line"/> (e.g. "CANCELLED Unary").</summary>
    public async Task<bool> SawLineAsync(string line, TimeSpan timeout)
    {
        var until = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < until)
        {
            if (_lines.Contains(line)) return true;
            await Task.Delay(50);
        }
        return false;
    }

    public string Lines => string.Join(" | ", _lines);

    public async Task DisposeAsync()
    {
        if (_process is null) return;
        _process.StandardInput.Close(); // the script stops when stdin closes
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        try
        {
            await _process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            _process.Kill(entireProcessTree: true);
        }
        _process.Dispose();
    }
}
