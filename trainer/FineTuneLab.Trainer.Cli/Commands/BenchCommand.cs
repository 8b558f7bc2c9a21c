using System.CommandLine;
using System.Text.Json;
using FineTuneLab.Trainer.Backends;
using FineTuneLab.Trainer.Backends.Cuda;
using FineTuneLab.Trainer.Training;

namespace FineTuneLab.Trainer.Cli.Commands;

/// <summary>ftl-train bench: LoRA training steps (forward, backward, AdamW) of a preset shape on random tokens.</summary>
internal static class BenchCommand
{
    public static Command Create()
    {
        var preset = new Option<string>("--preset") { Description = "tiny or smol135", Required = true };
        var threads = new Option<int?>("--threads") { Description = "CPU threads (default: all cores)" };
        var weights = new Option<string>("--weights") { Description = "frozen weights in fp32 or bf16", DefaultValueFactory = _ => "fp32" };
        var steps = new Option<int>("--steps") { Description = "timed steps (after 2 warm-up steps)", DefaultValueFactory = _ => 5 };
        var json = new Option<bool>("--json") { Description = "print one JSON line" };
        var profile = new Option<bool>("--profile") { Description = "time every backend call and print a per-op breakdown of one step to stderr (synchronizes after each op)" };
        var device = new Option<string>("--device") { Description = BackendFactory.OptionHelp, DefaultValueFactory = _ => "cpu" };
        var method = new Option<string>("--method") { Description = "lora, or qlora (block linear weights in NF4, the rest in --weights)", DefaultValueFactory = _ => "lora" };
        var command = new Command("bench", "Time LoRA training steps on random tokens (tokens/s, step ms, peak RSS, GFLOP/s)")
        {
            preset, threads, weights, steps, json, device, method, profile,
        };
        command.SetAction(parse =>
        {
            try
            {
                var p = BenchPreset.Named(parse.GetValue(preset)!);
                var dtype = WeightDTypeOption.Parse(parse.GetValue(weights)) ?? Tensors.DType.F32;
                int n = parse.GetValue(steps);
                if (n < 1) throw new ArgumentException("--steps must be at least 1");
                var m = parse.GetValue(method);
                if (m is not ("lora" or "qlora")) throw new ArgumentException($"--method must be lora or qlora, not '{m}'");
                using var created = BackendFactory.Create(parse.GetValue(device), parse.GetValue(threads), Console.Error.WriteLine);
                var profiler = parse.GetValue(profile) ? new ProfilingBackend(created) : null;
                IBackend backend = profiler ?? created;
                var r = TrainingBenchmark.Run(backend, BackendFactory.ThreadsOf(created), p, dtype, n, qlora: m == "qlora");
                if (profiler is not null) Console.Error.Write(StepProfileTable.Format(profiler.Report(), n, r.StepMsMedian));
                if (BackendFactory.Find<CudaBackend>(created) is { } cuda)
                {
                    // The CPU peak formula does not apply; MFU against the GPU's nominal TF32 tensor-core peak.
                    var peak = CudaPeak.Tf32Gflops(cuda.Info);
                    r = r with { PeakGflops = peak, Mfu = r.Gflops / peak };
                }
                if (parse.GetValue(json))
                    Console.WriteLine(JsonSerializer.Serialize(r, new JsonSerializerOptions { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower }));
                else
                    Console.WriteLine($"{r.Preset} ({r.Backend}, {r.Method}, {r.Weights} weights, {r.BaseWeightBitsPerParam:F3} bits/param in the block linears, {r.Threads} threads): {r.TokensPerSecond:F0} tokens/s, step {r.StepMsMedian:F1} ms " +
                        $"(min {r.StepMsMin:F1}, max {r.StepMsMax:F1}), {r.Gflops:F1} GFLOP/s (MFU {r.Mfu:P1} of ~{r.PeakGflops:F0}), " +
                        $"peak RSS {r.PeakRssMb:F0} MB, frozen weights {r.FrozenWeightMb:F0} MB, loss {r.FirstLoss:F3} -> {r.LastLoss:F3}");
                return 0;
            }
            catch (Exception e) when (e is ArgumentException or CudaUnavailableException or NotSupportedException)
            {
                Console.Error.WriteLine($"bench: {e.Message}");
                return 2;
            }
        });
        return command;
    }
}
