using System.Globalization;
using System.Runtime.InteropServices;
using FineTuneLab.Shared.Bench;

// ftl-bench-grpc [--seconds S] [--concurrency N] [--repeat R]
// Unary calls/s and streamed messages/s over loopback, one connection per pairing, for every client → server pair of
// {ours, python grpcio}; the best of R runs of each. Prints a markdown table for docs/BENCHMARKS.md.
var seconds = 3.0;
var concurrency = 16;
var repeat = 2;
for (var i = 0; i < args.Length; i++)
{
    switch (args[i])
    {
        case "--seconds": seconds = double.Parse(args[++i], CultureInfo.InvariantCulture); break;
        case "--concurrency": concurrency = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
        case "--repeat": repeat = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
        default:
            Console.Error.WriteLine($"unknown argument '{args[i]}'; usage: ftl-bench-grpc [--seconds S] [--concurrency N] [--repeat R]");
            return 2;
    }
}
var duration = TimeSpan.FromSeconds(seconds);

var (ours, oursAddress) = await Peers.StartOurServerAsync();
var (python, pythonAddress) = await Peers.StartPythonServerAsync();
var results = new Dictionary<string, Rates>();
try
{
    var pairs = new (string Name, Func<Task<Rates>> Run)[]
    {
        ("ours → ours", () => OurClientBench.RunAsync(oursAddress, duration, concurrency)),
        ("grpcio → ours", () => Peers.RunPythonClientAsync(oursAddress, duration, concurrency)),
        ("grpcio → grpcio", () => Peers.RunPythonClientAsync(pythonAddress, duration, concurrency)),
        ("ours → grpcio", () => OurClientBench.RunAsync(pythonAddress, duration, concurrency)),
    };
    foreach (var (name, run) in pairs)
    {
        var runs = new List<Rates>();
        for (var r = 0; r < repeat; r++)
        {
            runs.Add(await run());
            Console.Error.WriteLine($"{name} run {r + 1}: {runs[^1]}");
        }
        results[name] = Rates.Best(runs);
    }
}
finally
{
    python.StandardInput.Close();
    await python.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
    await ours.StopAsync();
}

Console.WriteLine($"date: {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC; machine: {Environment.ProcessorCount} cores, {RuntimeInformation.OSDescription}, " +
                  $".NET {Environment.Version}, python grpcio {Peers.PythonGrpcVersion()}; {seconds:0.#} s per figure, best of {repeat}, {concurrency} calls in flight for the concurrent column");
Console.WriteLine();
Console.WriteLine("| client → server | unary calls/s (1 in flight) | unary calls/s (" + concurrency + " in flight) | server-streamed messages/s |");
Console.WriteLine("| --- | ---: | ---: | ---: |");
foreach (var (name, r) in results)
    Console.WriteLine($"| {name} | {r.UnarySequential:N0} | {r.UnaryConcurrent:N0} | {r.Stream:N0} |");
Console.WriteLine();

string Ratio(Func<Rates, double> f, string a, string b) => (f(results[a]) / f(results[b])).ToString("0.00", CultureInfo.InvariantCulture);
Console.WriteLine($"ours → ours vs grpcio → grpcio: unary {Ratio(r => r.UnarySequential, "ours → ours", "grpcio → grpcio")}x, " +
                  $"concurrent {Ratio(r => r.UnaryConcurrent, "ours → ours", "grpcio → grpcio")}x, stream {Ratio(r => r.Stream, "ours → ours", "grpcio → grpcio")}x");
Console.WriteLine($"server swap under a grpcio client (grpcio → ours vs grpcio → grpcio): unary {Ratio(r => r.UnarySequential, "grpcio → ours", "grpcio → grpcio")}x, " +
                  $"concurrent {Ratio(r => r.UnaryConcurrent, "grpcio → ours", "grpcio → grpcio")}x, stream {Ratio(r => r.Stream, "grpcio → ours", "grpcio → grpcio")}x");
Console.WriteLine($"client swap against a grpcio server (ours → grpcio vs grpcio → grpcio): unary {Ratio(r => r.UnarySequential, "ours → grpcio", "grpcio → grpcio")}x, " +
                  $"concurrent {Ratio(r => r.UnaryConcurrent, "ours → grpcio", "grpcio → grpcio")}x, stream {Ratio(r => r.Stream, "ours → grpcio", "grpcio → grpcio")}x");
return 0;
