using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using FineTuneLab.Coordinator;
using FineTuneLab.Shared.Grpc;
using FineTuneLab.Shared.Grpc.Agent;
using FineTuneLab.Shared.Grpc.Client;
using FineTuneLab.Shared.Protos.Agent.V1;
using Google.Protobuf.WellKnownTypes;
using Serilog;

// Telemetry ingestion benchmark: N simulated agents hold real gRPC sessions with an in-process coordinator (real
// Kestrel, real SQLite store in a temp dir) and stream telemetry batches; we count points persisted per second (from
// the acks, which come after the transaction commits) and the latency from sending a batch to its ack.
// usage: ftl-bench-telemetry [agents=8] [seconds=10] [batch=500]
var agents = args.Length > 0 ? int.Parse(args[0]) : 8;
var seconds = args.Length > 1 ? double.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 10;
var batchSize = args.Length > 2 ? int.Parse(args[2]) : 500;
const int Window = 4; // batches in flight per agent

var dir = Directory.CreateTempSubdirectory("ftl-bench-telemetry-").FullName;
int FreePort() { using var l = new TcpListener(IPAddress.Loopback, 0); l.Start(); return ((IPEndPoint)l.LocalEndpoint).Port; }
var options = new CoordinatorOptions(dir, new Uri($"http://127.0.0.1:{FreePort()}"), new Uri($"http://127.0.0.1:{FreePort()}"), AgentToken: "bench");
var quiet = new Serilog.LoggerConfiguration().MinimumLevel.Warning().WriteTo.Console().CreateLogger();
await using var host = CoordinatorHost.Create(options, quiet);
await host.StartAsync();

using var channel = GrpcChannel.ForAddress(options.GrpcUrl);
var calls = channel.CreateCallInvoker();
var latencies = new List<double>[agents];
long persistedTotal = 0;
var stopAt = DateTime.UtcNow.AddSeconds(seconds);
var clock = Stopwatch.StartNew();

await Task.WhenAll(Enumerable.Range(0, agents).Select(async a =>
{
    latencies[a] = [];
    var reg = await calls.UnaryAsync(AgentGatewayDescriptors.Register,
        new RegisterRequest { Name = $"sim-{a}", Inventory = new NodeInventory { Hostname = $"sim-{a}", Cpu = new CpuInfo() } },
        new CallOptions(new Metadata().Add("authorization", "Bearer bench")));
    var auth = new Metadata().Add("authorization", "Bearer " + reg.AgentToken).Add("x-ftl-agent-id", reg.AgentId);
    using var session = calls.Duplex(AgentGatewayDescriptors.Session, new CallOptions(auth));
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
                latencies[a].Add((Stopwatch.GetTimestamp() - s.Ticks) * 1000.0 / Stopwatch.Frequency);
                inFlight.Release();
            }
            Interlocked.Add(ref persistedTotal, (long)(seq - acked));
            acked = seq;
        }
    });
    ulong seqNext = 1;
    var at = Timestamp.FromDateTime(DateTime.UtcNow);
    while (DateTime.UtcNow < stopAt)
    {
        await inFlight.WaitAsync();
        var batch = new TelemetryBatch();
        for (var i = 0; i < batchSize; i++)
            batch.Points.Add(new TelemetryPoint { Seq = seqNext++, At = at, GpuIndex = i % 8, Metric = "gpu.util", Value = i });
        sentAt.Enqueue((seqNext - 1, Stopwatch.GetTimestamp()));
        await session.RequestStream.WriteAsync(new AgentMessage { Telemetry = batch });
    }
    for (var i = 0; i < Window; i++) await inFlight.WaitAsync();
    await session.RequestStream.CompleteAsync();
    try { await reader; } catch (RpcException) { }
}));
var elapsed = clock.Elapsed.TotalSeconds;
var all = latencies.SelectMany(l => l).Order().ToArray();
double P(double q) => all.Length == 0 ? double.NaN : all[Math.Min(all.Length - 1, (int)(q * all.Length))];
Console.WriteLine($"agents {agents}, batch {batchSize} points, window {Window} batches, {Environment.ProcessorCount} cores");
Console.WriteLine($"persisted {persistedTotal:N0} points in {elapsed:0.0} s = {persistedTotal / elapsed:N0} points/s");
Console.WriteLine($"ack latency ms: p50 {P(0.5):0.0}, p99 {P(0.99):0.0}, max {all.LastOrDefault():0.0}");
await host.StopAsync();
Directory.Delete(dir, recursive: true);
