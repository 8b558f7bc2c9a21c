using System.Diagnostics;
using System.Text.Json;
using FineTuneLab.Shared.Grpc.Echo;
using FineTuneLab.Shared.Grpc.Server;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace FineTuneLab.Shared.Bench;

/// <summary>The servers and the python client the benchmark pairs up.</summary>
public static class Peers
{
    public const string DebianPython = "/usr/bin/python3";

    public static string InteropDir
    {
        get
        {
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            {
                var candidate = Path.Combine(dir.FullName, "scripts", "grpc-interop");
                if (Directory.Exists(candidate))
                    return candidate;
            }
            throw new InvalidOperationException($"scripts/grpc-interop not found above {AppContext.BaseDirectory}");
        }
    }

    public static async Task<(WebApplication App, string Address)> StartOurServerAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.ListenGrpc(new Uri("http://127.0.0.1:0")));
        var app = builder.Build();
        app.MapGrpcService(new EchoService());
        await app.StartAsync();
        return (app, app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
    }

    /// <summary>echo_server.py (grpcio, sync server with a thread pool); stops when its stdin closes.</summary>
    public static async Task<(Process Process, string Address)> StartPythonServerAsync()
    {
        var psi = new ProcessStartInfo(DebianPython)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        psi.ArgumentList.Add(Path.Combine(InteropDir, "echo_server.py"));
        var process = Process.Start(psi) ?? throw new InvalidOperationException("could not start echo_server.py");
        var line = await process.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(60))
                   ?? throw new InvalidOperationException("echo_server.py exited before reporting its port");
        if (!line.StartsWith("PORT ", StringComparison.Ordinal))
            throw new InvalidOperationException($"echo_server.py said '{line}' instead of PORT n");
        return (process, $"http://127.0.0.1:{line[5..]}");
    }

    public static async Task<Rates> RunPythonClientAsync(string address, TimeSpan duration, int concurrency)
    {
        var psi = new ProcessStartInfo(DebianPython)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        psi.ArgumentList.Add(Path.Combine(InteropDir, "bench_client.py"));
        psi.ArgumentList.Add(new Uri(address).Authority);
        psi.ArgumentList.Add(duration.TotalSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture));
        psi.ArgumentList.Add(concurrency.ToString(System.Globalization.CultureInfo.InvariantCulture));
        using var process = Process.Start(psi) ?? throw new InvalidOperationException("could not start bench_client.py");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        if (process.ExitCode != 0)
            throw new InvalidOperationException($"bench_client.py failed ({process.ExitCode}): {await stderr}");
        var json = JsonDocument.Parse(await stdout).RootElement;
        return new Rates(json.GetProperty("unary_seq").GetDouble(), json.GetProperty("unary_concurrent").GetDouble(),
            json.GetProperty("stream").GetDouble());
    }

    public static string PythonGrpcVersion()
    {
        var psi = new ProcessStartInfo(DebianPython, ["-c", "import grpc; print(grpc.__version__)"]) { RedirectStandardOutput = true };
        using var p = Process.Start(psi)!;
        var v = p.StandardOutput.ReadToEnd().Trim();
        p.WaitForExit();
        return v;
    }
}
