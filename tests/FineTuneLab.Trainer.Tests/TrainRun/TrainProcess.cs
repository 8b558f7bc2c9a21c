using System.Diagnostics;
using System.Text.Json;
using FineTuneLab.TestSupport;

namespace FineTuneLab.Trainer.Tests.TrainRun;

/// <summary>A real <c>ftl-train train</c> process (the Cli build beside the tests), its events read line by line as they come.</summary>
internal sealed class TrainProcess : IDisposable
{
    private readonly Process _process;
    private readonly Task<string> _stderr;
    private readonly List<JsonElement> _events = [];

    public IReadOnlyList<JsonElement> Events => _events;
    public int Pid => _process.Id;

    private TrainProcess(Process process)
    {
        _process = process;
        _stderr = process.StandardError.ReadToEndAsync();
    }

    public static string Program
    {
        get
        {
            var beside = Path.Combine(AppContext.BaseDirectory, "ftl-train.dll");
            if (File.Exists(beside) && File.Exists(Path.Combine(AppContext.BaseDirectory, "ftl-train.runtimeconfig.json"))) return beside;
            var build = Path.Combine(RepoPaths.Root, "trainer", "FineTuneLab.Trainer.Cli", "bin", "Release", "net10.0", "ftl-train.dll");
            return File.Exists(build) ? build : throw new FileNotFoundException("ftl-train.dll not found beside the tests or in the Cli's Release build");
        }
    }

    public static TrainProcess Start(params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        psi.ArgumentList.Add(Program);
        psi.ArgumentList.Add("train");
        foreach (var a in args) psi.ArgumentList.Add(a);
        return new TrainProcess(Process.Start(psi) ?? throw new InvalidOperationException("could not start ftl-train"));
    }

    /// <summary>Reads events until one matches (returns it) or stdout ends (returns null).</summary>
    public async Task<JsonElement?> ReadUntilAsync(Func<JsonElement, bool> match, TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromMinutes(3));
        while (await _process.StandardOutput.ReadLineAsync(cts.Token) is { } line)
        {
            var e = JsonDocument.Parse(line).RootElement.Clone();
            _events.Add(e);
            if (match(e)) return e;
        }
        return null;
    }

    public async Task<(int ExitCode, string StdErr)> WaitAsync(TimeSpan? timeout = null)
    {
        await ReadUntilAsync(_ => false, timeout);
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromMinutes(3));
        await _process.WaitForExitAsync(cts.Token);
        return (_process.ExitCode, await _stderr);
    }

    public async Task WriteStdinAsync(string line)
    {
        await _process.StandardInput.WriteLineAsync(line);
        await _process.StandardInput.FlushAsync();
    }

    /// <summary>Closes the trainer's stdin, as the death of the process that holds it would.</summary>
    public void CloseStdin() => _process.StandardInput.Close();

    public void Signal(string signal)
    {
        using var kill = Process.Start("kill", ["-" + signal, _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)])!;
        kill.WaitForExit();
    }

    public async Task KillAsync()
    {
        _process.Kill();
        await _process.WaitForExitAsync();
    }

    public static bool IsType(JsonElement e, string type) => e.GetProperty("type").GetString() == type;

    /// <summary>step → loss of every step event.</summary>
    public static Dictionary<long, double> Losses(IEnumerable<JsonElement> events) =>
        events.Where(e => IsType(e, "step")).ToDictionary(e => e.GetProperty("step").GetInt64(), e => e.GetProperty("loss").GetDouble());

    public void Dispose()
    {
        if (!_process.HasExited) _process.Kill();
        _process.Dispose();
    }
}
