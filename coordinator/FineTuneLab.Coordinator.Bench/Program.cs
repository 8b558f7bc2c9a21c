using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using FineTuneLab.Coordinator;
using FineTuneLab.Shared.Protos.Agent.V1;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Grpc.Net.Client;
using Gateway = FineTuneLab.Shared.Protos.Agent.V1.AgentGateway;
using Serilog;

// Telemetry ingestion benchmark: N simulated agents hold real gRPC sessions (Grpc.Net.Client against the
// coordinator's Grpc.AspNetCore gateway; FTL_BENCH_GZIP=1 gzips the session messages) with a coordinator (real Kestrel, real
// SQLite store in a temp dir) and stream telemetry batches; we count points persisted per second (from the acks, which
// come after the transaction commits) and the latency from sending a batch to its ack. The agents run in a child
// process, so the coordinator's own CPU time per point is measured apart from theirs (both share the machine's cores).
// usage: ftl-bench-telemetry [agents=8] [seconds=10] [batch=500]
//        ftl-bench-telemetry --agents GRPC_URL agents seconds batch   (the child: the simulated agents only)
var agentsOnly = args.Length > 0 && args[0] == "--agents";
var rest = agentsOnly ? args[2..] : args;
var agents = rest.Length > 0 ? int.Parse(rest[0]) : 8;
var seconds = rest.Length > 1 ? double.Parse(rest[1], System.Globalization.CultureInfo.InvariantCulture) : 10;
var batchSize = rest.Length > 2 ? int.Parse(rest[2]) : 500;
const int Window = 4; // batches in flight per agent
string[] Metrics = ["gpu.util", "gpu.mem.used", "gpu.temp", "gpu.power"];

if (agentsOnly)
{
    using var channel = GrpcChannel.ForAddress(new Uri(args[1]), new GrpcChannelOptions
    {
        HttpHandler = new SocketsHttpHandler { EnableMultipleHttp2Connections = true, PooledConnectionIdleTimeout = Timeout.InfiniteTimeSpan },
    });
    var calls = new Gateway.AgentGatewayClient(channel);
    // A short warm-up first (JIT, connection, SQLite page cache), then the measured run with fresh agents.
    await RunAsync(calls, Math.Min(agents, 2), 1.0, 0);
    Console.WriteLine("measuring");
    var cpuAtStart = Process.GetCurrentProcess().TotalProcessorTime;
    var clock = Stopwatch.StartNew();
    var (persisted, latencies) = await RunAsync(calls, agents, seconds, 100);
    var elapsed = clock.Elapsed.TotalSeconds;
    var all = latencies.Order().ToArray();
    double P(double q) => all.Length == 0 ? double.NaN : all[Math.Min(all.Length - 1, (int)(q * all.Length))];
    Console.WriteLine($"persisted {persisted:N0} points in {elapsed:0.0} s = {persisted / elapsed:N0} points/s");
    Console.WriteLine($"ack latency ms: p50 {P(0.5):0.0}, p99 {P(0.99):0.0}, max {all.LastOrDefault():0.0}");
    Console.WriteLine($"agents' CPU {(Process.GetCurrentProcess().TotalProcessorTime - cpuAtStart).TotalSeconds:0.00} s");
    return;
}

var dir = Directory.CreateTempSubdirectory("ftl-bench-telemetry-").FullName;
int FreePort() { using var l = new TcpListener(IPAddress.Loopback, 0); l.Start(); return ((IPEndPoint)l.LocalEndpoint).Port; }
var options = new CoordinatorOptions(dir, new Uri($"http://127.0.0.1:{FreePort()}"), new Uri($"http://127.0.0.1:{FreePort()}"), AgentToken: "bench");
var quiet = new Serilog.LoggerConfiguration().MinimumLevel.Warning().WriteTo.Console().CreateLogger();
await using (var host = CoordinatorHost.Create(options, quiet))
{
    await host.StartAsync();
    var child = new ProcessStartInfo(Environment.ProcessPath!) { RedirectStandardOutput = true, UseShellExecute = false };
    foreach (var a in new[] { System.Reflection.Assembly.GetEntryAssembly()!.Location, "--agents", options.GrpcUrl!.ToString(), $"{agents}", rest.Length > 1 ? rest[1] : "10", $"{batchSize}" })
        child.ArgumentList.Add(a);
    using var agentsProcess = Process.Start(child)!;
    var coordinatorCpuAtStart = TimeSpan.Zero;
    string? line;
    var report = new List<string>();
    while ((line = await agentsProcess.StandardOutput.ReadLineAsync()) is not null)
    {
        if (line == "measuring") coordinatorCpuAtStart = Process.GetCurrentProcess().TotalProcessorTime;
        else report.Add(line);
    }
    await agentsProcess.WaitForExitAsync();
    var coordinatorCpu = (Process.GetCurrentProcess().TotalProcessorTime - coordinatorCpuAtStart).TotalSeconds;
    if (agentsProcess.ExitCode != 0) throw new InvalidOperationException($"the agents' process exited with {agentsProcess.ExitCode}:\n{string.Join("\n", report)}");
    Console.WriteLine($"agents {agents}, batch {batchSize} points, window {Window} batches, {Environment.ProcessorCount} cores");
    foreach (var r in report) Console.WriteLine(r);
    var persisted = long.Parse(report[0].Split(' ')[1], System.Globalization.NumberStyles.AllowThousands, System.Globalization.CultureInfo.InvariantCulture);
    Console.WriteLine($"coordinator CPU {coordinatorCpu:0.00} s = {persisted / coordinatorCpu:N0} points per coordinator CPU-second");
    await host.StopAsync();
}
Directory.Delete(dir, recursive: true);

async Task<(long Persisted, List<double> Latencies)> RunAsync(Gateway.AgentGatewayClient calls, int count, double runSeconds, int firstAgent)
{
    var stopAt = DateTime.UtcNow.AddSeconds(runSeconds);
    var lat = new List<double>[count];
    long persisted = 0;
    await Task.WhenAll(Enumerable.Range(0, count).Select(async a =>
    {
        lat[a] = [];
        var reg = await calls.RegisterAsync(
            new RegisterRequest { Name = $"sim-{firstAgent + a}", Inventory = new NodeInventory { Hostname = $"sim-{firstAgent + a}", Cpu = new CpuInfo() } },
            new Metadata { { "authorization", "Bearer bench" } });
        var auth = new Metadata { { "authorization", "Bearer " + reg.AgentToken }, { "x-ftl-agent-id", reg.AgentId } };
        if (Environment.GetEnvironmentVariable("FTL_BENCH_GZIP") == "1") auth.Add("grpc-internal-encoding-request", "gzip");
        using var session = calls.Session(auth);
        await session.RequestStream.WriteAsync(new AgentMessage { Hello = new SessionHello { AgentId = reg.AgentId } });
        await session.ResponseStream.MoveNext();
        var sentAt = new System.Collections.Concurrent.ConcurrentQueue<(ulong LastSeq, long Ticks)>();
        var inFlight = new SemaphoreSlim(Window);
        ulong acked = 0;
        var reader = Task.Run(async () =>
        {
            while (await session.ResponseStream.MoveNext())
            {
                if (session.ResponseStream.Current.BodyCase != CoordinatorMessage.BodyOneofCase.Ack) continue;
                var seq = session.ResponseStream.Current.Ack.PersistedSeq;
                while (sentAt.TryPeek(out var s) && s.LastSeq <= seq)
                {
                    sentAt.TryDequeue(out _);
                    lat[a].Add((Stopwatch.GetTimestamp() - s.Ticks) * 1000.0 / Stopwatch.Frequency);
                    inFlight.Release();
                }
                Interlocked.Add(ref persisted, (long)(seq - acked));
                acked = seq;
            }
        });
        ulong seqNext = 1;
        // What a busy 8-GPU node running a job sends: every point carries the job id (so it lands in the job index too),
        // four metrics per GPU per sample, a new sample time every 32 points.
        // One message, refilled in place for every send (WriteAsync has serialized it once it returns): the simulated
        // agents share the cores with the coordinator, so they should cost as little as a real agent's network would.
        var jobId = $"job_bench{firstAgent + a:D11}";
        var batch = new TelemetryBatch();
        var message = new AgentMessage { Telemetry = batch };
        var sampleTimes = new List<Timestamp>();
        for (var i = 0; i < batchSize; i++)
        {
            if (i % 32 == 0) sampleTimes.Add(new Timestamp());
            batch.Points.Add(new TelemetryPoint { At = sampleTimes[^1], JobId = jobId, GpuIndex = i / 4 % 8, Metric = Metrics[i % 4], Value = i });
        }
        var sampleAt = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        while (DateTime.UtcNow < stopAt)
        {
            await inFlight.WaitAsync();
            foreach (var t in sampleTimes) t.Seconds = ++sampleAt;
            foreach (var p in batch.Points) p.Seq = seqNext++;
            sentAt.Enqueue((seqNext - 1, Stopwatch.GetTimestamp()));
            await session.RequestStream.WriteAsync(message);
        }
        for (var i = 0; i < Window; i++) await inFlight.WaitAsync();
        await session.RequestStream.CompleteAsync();
        try { await reader; } catch (RpcException) { }
    }));
    return (persisted, lat.SelectMany(l => l).ToList());
}
