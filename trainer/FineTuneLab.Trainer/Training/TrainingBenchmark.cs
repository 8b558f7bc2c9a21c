using System.Diagnostics;
using System.Runtime.Intrinsics;
using FineTuneLab.Trainer.Backends;
using FineTuneLab.Trainer.Models;
using FineTuneLab.Trainer.Tensors;

namespace FineTuneLab.Trainer.Training;

/// <summary>A benchmark shape: a model (random weights), a micro-batch, and the LoRA that is trained.</summary>
public sealed record BenchPreset(string Name, ModelConfig Model, int Seq, int Batch, int Rank, double Alpha)
{
    private static ModelConfig Llama(int hidden, int layers, int heads, int kvHeads, int intermediate, int vocab, bool tied) => new()
    {
        Family = ModelFamily.Llama, Architecture = "LlamaForCausalLM", HiddenSize = hidden, NumLayers = layers, NumHeads = heads,
        NumKvHeads = kvHeads, HeadDim = hidden / heads, IntermediateSize = intermediate, VocabSize = vocab, MaxPositionEmbeddings = 2048,
        Norm = NormKind.RmsNorm, NormEps = 1e-5, Mlp = MlpKind.SwiGlu, Activation = "silu", TieWordEmbeddings = tied, RopeTheta = 10000,
    };

    public static readonly BenchPreset Tiny = new("tiny", Llama(256, 4, 4, 4, 688, 8192, tied: false), 256, 4, 8, 16);
    /// <summary>SmolLM-135M's shape.</summary>
    public static readonly BenchPreset Smol135 = new("smol135", Llama(576, 30, 9, 3, 1536, 49152, tied: true), 512, 1, 16, 32);

    public static BenchPreset Named(string name) => name switch
    {
        "tiny" => Tiny,
        "smol135" => Smol135,
        _ => throw new ArgumentException($"unknown preset '{name}' (tiny, smol135)"),
    };

    /// <summary>
    /// Model FLOPs of one LoRA training step: forward and input-gradient GEMMs through every frozen matrix
    /// (2·N·P each; frozen weights get no weight gradient), the LoRA factors (forward, both gradients and dX),
    /// and causal attention (2 score-sized GEMMs forward, 5 backward incl. the recomputed scores, each half-masked).
    /// </summary>
    public double StepFlops()
    {
        var c = Model;
        double n = (double)Batch * Seq;
        long[][] linears = [[c.HiddenSize, c.QDim], [c.HiddenSize, c.KvDim], [c.HiddenSize, c.KvDim], [c.QDim, c.HiddenSize],
            [c.HiddenSize, c.IntermediateSize], [c.HiddenSize, c.IntermediateSize], [c.IntermediateSize, c.HiddenSize]];
        double frozen = c.NumLayers * linears.Sum(l => (double)l[0] * l[1]) + (double)c.VocabSize * c.HiddenSize;
        double lora = c.NumLayers * linears.Sum(l => (double)Rank * (l[0] + l[1]));
        double attention = c.NumLayers * 7.0 * Batch * c.NumHeads * (double)Seq * Seq * c.HeadDim;
        return 4 * n * frozen + 8 * n * lora + attention;
    }
}

public sealed record BenchResult(string Preset, string Backend, int Threads, string Weights, int Steps, int TokensPerStep,
    double TokensPerSecond, double StepMsMedian, double StepMsMin, double StepMsMax, double PeakRssMb, double Gflops,
    double PeakGflops, double Mfu, double FrozenWeightMb, double ActivationMb, long TrainableParameters, double FirstLoss, double LastLoss,
    string Method = "lora", double BaseWeightBitsPerParam = 0);

/// <summary>Times LoRA training steps (forward, backward, AdamW) of a preset on random tokens.</summary>
public static class TrainingBenchmark
{
    /// <param name="qlora">Hold the block linear weights in NF4 (the rest in <paramref name="weights"/>).</param>
    public static BenchResult Run(IBackend backend, int threads, BenchPreset preset, DType weights, int steps, int warmup = 2, ulong seed = 1,
        bool qlora = false)
    {
        var lora = new LoraOptions(preset.Rank, preset.Alpha, LoraOptions.LlamaAllLinear);
        var options = new EngineOptions { Lora = lora, WeightDType = weights, QuantizeBase = qlora, MaxBatch = preset.Batch, MaxSeq = preset.Seq, Seed = seed };
        using var model = new TransformerModel(preset.Model, backend, options, weights);
        model.InitRandomWeights(seed);
        model.InitLora(seed + 1);
        using var step = new TrainingStep(model, new OptimizerSettings(1e-4f, WeightDecay: 0f, MaxGradNorm: 1f));

        var rng = new SplitMix64(seed + 2);
        int n = preset.Batch * preset.Seq;
        var ids = new int[n];
        for (int i = 0; i < n; i++) ids[i] = (int)(rng.Next() % (ulong)preset.Model.VocabSize);
        MicroBatch[] batch = [new MicroBatch(ids, ids, preset.Batch, preset.Seq)];

        double first = 0, last = 0;
        for (int i = 0; i < warmup; i++) first = step.Step(batch).Loss;
        (backend as ProfilingBackend)?.Reset();
        var times = new double[steps];
        for (int i = 0; i < steps; i++)
        {
            long t0 = Stopwatch.GetTimestamp();
            last = step.Step(batch).Loss;
            backend.Synchronize();
            times[i] = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
        }
        Array.Sort(times);
        double median = steps % 2 == 1 ? times[steps / 2] : (times[steps / 2 - 1] + times[steps / 2]) / 2;
        double gflops = preset.StepFlops() / (median / 1000) / 1e9;
        double peak = PeakGflops(threads);
        return new BenchResult(preset.Name, backend.Name, threads, weights switch { DType.BF16 => "bf16", DType.F16 => "fp16", _ => "fp32" }, steps, n, n / (median / 1000),
            median, times[0], times[^1], PeakRssMb(), gflops, peak, peak > 0 ? gflops / peak : 0,
            model.FrozenBytes / 1048576.0, model.ActivationBytes / 1048576.0, model.TrainableCount, first, last,
            qlora ? "qlora" : "lora", qlora ? model.Nf4BitsPerParameter : 8.0 * weights.SizeOf());
    }

    /// <summary>VmHWM of this process (Linux); 0 where /proc is not there.</summary>
    public static double PeakRssMb()
    {
        const string status = "/proc/self/status";
        if (!File.Exists(status)) return 0;
        foreach (var line in File.ReadLines(status))
            if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
                return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) / 1024.0;
        return 0;
    }

    /// <summary>
    /// Nominal fp32 peak: threads × clock × FLOPs per cycle (two FMA pipes of the widest vector the runtime uses).
    /// The clock is /proc/cpuinfo's current "cpu MHz" of the first core, so the figure is approximate.
    /// </summary>
    public static double PeakGflops(int threads)
    {
        double mhz = 0;
        if (File.Exists("/proc/cpuinfo"))
            foreach (var line in File.ReadLines("/proc/cpuinfo"))
                if (line.StartsWith("cpu MHz", StringComparison.Ordinal))
                {
                    double.TryParse(line.Split(':')[1], System.Globalization.CultureInfo.InvariantCulture, out mhz);
                    break;
                }
        int lanes = Vector512.IsHardwareAccelerated ? 16 : Vector256.IsHardwareAccelerated ? 8 : 4;
        return threads * mhz / 1000 * lanes * 2 * 2;
    }
}
