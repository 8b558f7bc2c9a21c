using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using FineTuneLab.TestSupport;

namespace FineTuneLab.EndToEnd.Tests;

/// <summary>The real ftl-coordinator process (scripts/ftl-coordinator) probed by python grpcio, then stopped with SIGTERM.</summary>
public sealed class CoordinatorProcessTests
{
    [Fact]
    public async Task Coordinator_serves_standard_health_to_grpcio_and_exits_cleanly_on_sigterm()
    {
        var dataDir = Directory.CreateTempSubdirectory("ftl-e2e-").FullName;
        var (httpPort, grpcPort) = (FreePort(), FreePort());
        var psi = new ProcessStartInfo(Path.Combine(RepoPaths.Scripts, "ftl-coordinator"))
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = RepoPaths.Root,
        };
        foreach (var a in new[] { "--data-dir", dataDir, "--http-url", $"http://127.0.0.1:{httpPort}", "--grpc-url", $"http://127.0.0.1:{grpcPort}" })
            psi.ArgumentList.Add(a);
        var output = new StringBuilder();
        using var process = Process.Start(psi)!;
        process.OutputDataReceived += (_, e) => { lock (output) output.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { lock (output) output.AppendLine(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            // The wrapper may build the Release program first: allow for that on a busy machine.
            await WaitForHealthzAsync(httpPort, process, TimeSpan.FromMinutes(4), output);

            var check = await ExternalProcess.RunAsync(ExternalProcess.DebianPython,
                [Path.Combine(RepoPaths.Scripts, "grpc-interop", "health_check.py"), $"127.0.0.1:{grpcPort}"], timeout: TimeSpan.FromMinutes(1));
            check.EnsureSuccess("health_check.py");
            Assert.Equal("SERVING", JsonDocument.Parse(check.StdOut).RootElement.GetProperty("status").GetString());

            var gateway = await ExternalProcess.RunAsync(ExternalProcess.DebianPython,
                [Path.Combine(RepoPaths.Scripts, "grpc-interop", "health_check.py"), $"127.0.0.1:{grpcPort}", "ftl.agent.v1.AgentGateway"]);
            Assert.Equal("SERVING", JsonDocument.Parse(gateway.StdOut).RootElement.GetProperty("status").GetString());

            Assert.True(File.Exists(Path.Combine(dataDir, "coordinator.db")), "the SQLite store was not created in --data-dir");

            var stopwatch = Stopwatch.StartNew();
            (await ExternalProcess.RunAsync("/bin/kill", ["-TERM", process.Id.ToString()])).EnsureSuccess("kill -TERM");
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
            await process.WaitForExitAsync(cts.Token);
            Assert.True(process.ExitCode == 0, $"exit code {process.ExitCode}:\n{output}");
            Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(10), $"shutdown took {stopwatch.Elapsed}");
        }
        finally
        {
            if (!process.HasExited)
                process.Kill(entireProcessTree: true);
            Directory.Delete(dataDir, recursive: true);
        }
    }

    private static async Task WaitForHealthzAsync(int port, Process process, TimeSpan timeout, StringBuilder output)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        var until = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < until)
        {
            if (process.HasExited)
                throw new InvalidOperationException($"ftl-coordinator exited with {process.ExitCode}:\n{output}");
            try
            {
                if ((await http.GetAsync($"http://127.0.0.1:{port}/healthz")).StatusCode == HttpStatusCode.OK)
                    return;
            }
            catch (HttpRequestException) { }
            catch (TaskCanceledException) { }
            await Task.Delay(250);
        }
        throw new TimeoutException($"ftl-coordinator did not become healthy in {timeout}:\n{output}");
    }

    private static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }
}
