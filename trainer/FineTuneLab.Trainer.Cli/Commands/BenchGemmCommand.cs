using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using FineTuneLab.Trainer.Backends.Cpu;
using FineTuneLab.Trainer.Tensors;

namespace FineTuneLab.Trainer.Cli.Commands;

/// <summary>
/// Hidden benchmark of the CPU backend's GEMM (scripts/bench-gemm runs it): prints one tab-separated line per shape
/// with the best GFLOP/s over several timed batches. With a peer (scripts/bench_gemm_torch.py) the two sides are
/// timed shape by shape, alternating, for several rounds, each keeping its best, so load on a shared machine hits
/// both alike.
/// </summary>
internal static class BenchGemmCommand
{
    public static Command Create()
    {
        var shapes = new Option<string>("--shapes")
        {
            Description = "semicolon-separated NAME,M,N,K,TRANSA,TRANSB (0/1) shapes",
            Required = true,
        };
        var threads = new Option<int>("--threads") { Description = "worker threads", DefaultValueFactory = _ => 2 };
        var seconds = new Option<double>("--seconds") { Description = "timed seconds per shape", DefaultValueFactory = _ => 0.5 };
        var bf16 = new Option<bool>("--bf16-b") { Description = "also time B (the weight) in bf16" };
        var rounds = new Option<int>("--rounds") { Description = "alternating rounds per shape", DefaultValueFactory = _ => 1 };
        var peer = new Option<string?>("--peer-script") { Description = "python peer script (PyTorch side)" };
        var preload = new Option<string?>("--peer-preload") { Description = "library to LD_PRELOAD into the peer (its BLAS)" };
        var command = new Command("bench-gemm", "Benchmark the CPU GEMM on given shapes (GFLOP/s)") { Hidden = true };
        command.Options.Add(shapes);
        command.Options.Add(threads);
        command.Options.Add(seconds);
        command.Options.Add(bf16);
        command.Options.Add(rounds);
        command.Options.Add(peer);
        command.Options.Add(preload);
        command.SetAction(parse =>
        {
            var list = Parse(parse.GetValue(shapes)!);
            var threadCount = parse.GetValue(threads);
            var secs = parse.GetValue(seconds);
            using var backend = new CpuBackend(threadCount);
            // PyTorch's OpenMP threads either spin (ACTIVE) or sleep (PASSIVE) between calls; which is faster depends on
            // the machine's load, so the peer runs both ways and keeps its better figure.
            using var peerActive = StartPeer(parse.GetValue(peer), parse.GetValue(preload), "ACTIVE");
            using var peerPassive = StartPeer(parse.GetValue(peer), parse.GetValue(preload), "PASSIVE");
            var best = new Dictionary<string, (double F32, double Bf16, double Peer)>();
            try
            {
                for (var round = 0; round < Math.Max(1, parse.GetValue(rounds)); round++)
                {
                    foreach (var s in list)
                    {
                        // Only the side being timed runs: an idle OMP_WAIT_POLICY=ACTIVE peer keeps its threads spinning
                        // and would take the cores from whoever is measured next.
                        Hold(peerActive, true);
                        Hold(peerPassive, true);
                        var f32 = Measure(backend, s, DType.F32, secs);
                        var b16 = parse.GetValue(bf16) ? Measure(backend, s, DType.BF16, secs) : double.NaN;
                        var theirs = double.NaN;
                        if (peerActive is not null && peerPassive is not null)
                        {
                            Hold(peerActive, false);
                            var active = MeasurePeer(peerActive, s, secs, threadCount);
                            Hold(peerActive, true);
                            Hold(peerPassive, false);
                            theirs = Math.Max(active, MeasurePeer(peerPassive, s, secs, threadCount));
                        }
                        var old = best.GetValueOrDefault(s.Name, (0, 0, 0));
                        best[s.Name] = (Math.Max(old.F32, f32), Math.Max(old.Bf16, b16), Math.Max(old.Peer, theirs));
                    }
                }
            }
            finally
            {
                Hold(peerActive, false);
                Hold(peerPassive, false);
            }
            Console.WriteLine("name\tM\tN\tK\ttransA\ttransB\tours_f32\tours_bf16b\ttorch_f32\tratio");
            var logSum = 0.0;
            foreach (var s in list)
            {
                var (f32, b16, theirs) = best[s.Name];
                logSum += Math.Log(f32 / theirs);
                Console.WriteLine(string.Join('\t', s.Name, s.M, s.N, s.K, s.TransA ? 1 : 0, s.TransB ? 1 : 0, F(f32), F(b16), F(theirs), F(f32 / theirs, "F2")));
            }
            if (peerActive is not null)
                Console.WriteLine($"geometric mean ratio ours_f32 / torch_f32: {F(Math.Exp(logSum / list.Count), "F2")} over {list.Count} shapes");
            return 0;
        });
        return command;
    }

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int SendSignal(int pid, int signal);

    /// <summary>Stops (SIGSTOP) or resumes (SIGCONT) a peer process on Linux; elsewhere the peers are left running.</summary>
    private static void Hold(Process? peer, bool stop)
    {
        const int sigCont = 18, sigStop = 19;
        if (peer is not null && OperatingSystem.IsLinux()) SendSignal(peer.Id, stop ? sigStop : sigCont);
    }

    private static string F(double v, string format = "F1") => v.ToString(format, CultureInfo.InvariantCulture);

    private static Process? StartPeer(string? script, string? preload, string waitPolicy)
    {
        if (script is null) return null;
        var psi = new ProcessStartInfo("/usr/bin/python3")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        psi.ArgumentList.Add(script);
        if (preload is not null) psi.Environment["LD_PRELOAD"] = preload;
        psi.Environment["OMP_WAIT_POLICY"] = waitPolicy;
        return Process.Start(psi) ?? throw new InvalidOperationException($"could not start the peer {script}");
    }

    private static double MeasurePeer(Process peer, Shape s, double seconds, int threads)
    {
        peer.StandardInput.WriteLine(string.Join(',', s.Name, s.M, s.N, s.K, s.TransA ? 1 : 0, s.TransB ? 1 : 0,
            F(seconds, "R"), threads));
        peer.StandardInput.Flush();
        var line = peer.StandardOutput.ReadLine() ?? throw new InvalidOperationException("the peer exited without an answer");
        var fields = line.Split('\t');
        if (fields.Length != 2 || fields[0] != s.Name || !double.TryParse(fields[1], CultureInfo.InvariantCulture, out var gflops))
            throw new InvalidOperationException($"unexpected peer answer '{line}' for {s.Name}");
        return gflops;
    }

    private sealed record Shape(string Name, int M, int N, int K, bool TransA, bool TransB);

    private static List<Shape> Parse(string text)
    {
        var result = new List<Shape>();
        foreach (var item in text.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var f = item.Split(',');
            if (f.Length != 6 || !int.TryParse(f[1], out var m) || !int.TryParse(f[2], out var n) || !int.TryParse(f[3], out var k))
                throw new ArgumentException($"--shapes: '{item}' is not NAME,M,N,K,TRANSA,TRANSB");
            result.Add(new Shape(f[0], m, n, k, f[4] == "1", f[5] == "1"));
        }
        return result;
    }

    private static double Measure(CpuBackend backend, Shape s, DType bType, double seconds)
    {
        var rng = new Random(1);
        using var a = new NativeBuffer((long)s.M * s.K * 4);
        using var b = new NativeBuffer((long)s.K * s.N * bType.SizeOf());
        using var c = new NativeBuffer((long)s.M * s.N * 4);
        var ta = a.AsTensor(DType.F32, s.TransA ? new TensorShape(s.K, s.M) : new TensorShape(s.M, s.K));
        var tb = b.AsTensor(bType, s.TransB ? new TensorShape(s.N, s.K) : new TensorShape(s.K, s.N));
        var tc = c.AsTensor(DType.F32, new TensorShape(s.M, s.N));
        foreach (ref var v in ta.AsFloat()) v = (float)(rng.NextDouble() - 0.5);
        if (bType == DType.F32) foreach (ref var v in tb.AsFloat()) v = (float)(rng.NextDouble() - 0.5);
        else foreach (ref var v in tb.AsHalfBits()) v = HalfConvert.FloatToBf16((float)(rng.NextDouble() - 0.5));

        var flops = 2.0 * s.M * s.N * s.K;
        backend.Gemm(ta, s.TransA, tb, s.TransB, tc);
        // batches of about 50 ms; the best batch is the least disturbed by other load on the machine
        var perCall = Stopwatch.StartNew();
        backend.Gemm(ta, s.TransA, tb, s.TransB, tc);
        var calls = Math.Max(1, (int)(0.05 / Math.Max(perCall.Elapsed.TotalSeconds, 1e-6)));
        var best = double.MaxValue;
        var total = Stopwatch.StartNew();
        do
        {
            var sw = Stopwatch.StartNew();
            for (var i = 0; i < calls; i++) backend.Gemm(ta, s.TransA, tb, s.TransB, tc);
            best = Math.Min(best, sw.Elapsed.TotalSeconds / calls);
        } while (total.Elapsed.TotalSeconds < seconds);
        return flops / best / 1e9;
    }
}
