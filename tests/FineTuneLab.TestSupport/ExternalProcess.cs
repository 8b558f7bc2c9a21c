using System.Diagnostics;

namespace FineTuneLab.TestSupport;

/// <summary>Runs reference peers (Debian's python3 with torch/grpcio/jinja2, node) and collects their output.</summary>
public static class ExternalProcess
{
    /// <summary>Debian's interpreter, which has python3-torch, python3-grpcio and python3-jinja2 (not a pyenv shim).</summary>
    public const string DebianPython = "/usr/bin/python3";

    public sealed record Result(int ExitCode, string StdOut, string StdErr)
    {
        public Result EnsureSuccess(string what)
        {
            if (ExitCode != 0)
                throw new InvalidOperationException($"{what} exited with {ExitCode}:\n{StdErr}\n{StdOut}");
            return this;
        }
    }

    public static async Task<Result> RunAsync(string fileName, IEnumerable<string> args, string? workingDirectory = null,
        string? stdin = null, IDictionary<string, string>? environment = null, TimeSpan? timeout = null,
        CancellationToken cancellationToken = default)
    {
        var psi = new ProcessStartInfo(fileName)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = stdin is not null,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? RepoPaths.Root,
        };
        foreach (var a in args) psi.ArgumentList.Add(a);
        if (environment is not null)
            foreach (var (k, v) in environment) psi.Environment[k] = v;

        using var process = Process.Start(psi) ?? throw new InvalidOperationException($"could not start {fileName}");
        var stdout = process.StandardOutput.ReadToEndAsync(cancellationToken);
        var stderr = process.StandardError.ReadToEndAsync(cancellationToken);
        if (stdin is not null)
        {
            await process.StandardInput.WriteAsync(stdin);
            process.StandardInput.Close();
        }
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(timeout ?? TimeSpan.FromMinutes(5));
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{fileName} {string.Join(' ', args)} did not finish in time");
        }
        return new Result(process.ExitCode, await stdout, await stderr);
    }

    public static Task<Result> PythonAsync(string script, params string[] args) =>
        RunAsync(DebianPython, new[] { script }.Concat(args));
}
