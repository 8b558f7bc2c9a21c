using FineTuneLab.Trainer.Formats;
using FineTuneLab.Trainer.Jobs;
using FineTuneLab.Trainer.Models;
using FineTuneLab.Trainer.Tensors;

namespace FineTuneLab.Trainer.Planning;

/// <summary>A job's full plan: memory (and whether it fits), data size, steps, time and cost.</summary>
public sealed record JobPlan(JobSpec Spec, ModelConfig Model, DType MatrixDType, int Threads, MemoryPlan Memory, long? BudgetBytes,
    string BudgetSource, bool Fits, IReadOnlyList<string> Advice, DataTokenCount Data, RunProjection Projection);

public static class JobPlanner
{
    public static async Task<JobPlan> PlanAsync(JobSpec spec, double? gpuMemoryGb, double? tokensPerSecond, double? pricePerHour,
        CancellationToken ct = default)
    {
        var config = HfConfig.Load(spec.Model.Path);
        var dtype = MatrixDType(spec);
        int threads = spec.Threads > 0 ? spec.Threads : Environment.ProcessorCount;
        long fileBytes = Directory.EnumerateFiles(spec.Model.Path, "*.safetensors").Sum(f => new FileInfo(f).Length);
        MemoryPlan Replan(JobSpec s) => MemoryPlanner.Plan(config, EngineOptionsFor(s, config), MatrixDType(s), threads, fileBytes);
        var memory = Replan(spec);
        long? budget;
        string source;
        if (gpuMemoryGb is { } gb)
        {
            budget = (long)(gb * 1024 * 1024 * 1024);
            source = $"--gpu-memory-gb {gb} (plan is of the CPU engine's layout; the GPU keeps the same arenas)";
        }
        else
        {
            budget = HostMemoryBytes();
            source = budget is null ? "unknown (no /proc/meminfo)" : "host memory (MemAvailable)";
        }
        bool fits = budget is null || memory.PeakBytes <= budget;
        var advice = fits || budget is null ? [] : PlanAdvice.WhenOver(spec, memory, budget.Value, Replan);
        var data = await DataTokenCount.CountAsync(spec, spec.Data.Train, spec.Model.Path, ct);
        var projection = RunProjection.Compute(spec, data, tokensPerSecond, pricePerHour);
        return new JobPlan(spec, config, dtype, threads, memory, budget, source, fits, advice, data, projection);
    }

    public static EngineOptions EngineOptionsFor(JobSpec s, ModelConfig config) => new()
    {
        Lora = s.Method == TrainingMethod.Lora
            ? new LoraOptions(s.Lora.R, s.Lora.Alpha, LoraOptions.ResolveTargets(s.Lora.TargetModules, config.Family),
                (float)s.Lora.Dropout, s.Lora.UseRsLora)
            : null,
        FullFineTune = s.Method == TrainingMethod.Full,
        MaxBatch = s.MicroBatchSize,
        MaxSeq = s.MaxSeqLen,
        Seed = s.Seed,
    };

    private static DType MatrixDType(JobSpec s) => s.Model.WeightDType switch
    {
        WeightDType.Fp32 => DType.F32,
        WeightDType.Bf16 => DType.BF16,
        WeightDType.Fp16 => DType.F16,
        _ => StoredDType(s.Model.Path),
    };

    private static DType StoredDType(string modelDir)
    {
        using var store = SafeTensorStore.Open(modelDir);
        var key = new[] { "model.embed_tokens.weight", "transformer.wte.weight", "wte.weight" }.FirstOrDefault(store.Contains);
        return key is null ? DType.F32 : store.Get(key).DType switch
        {
            SafeTensorDType.BF16 => DType.BF16,
            SafeTensorDType.F16 => DType.F16,
            _ => DType.F32,
        };
    }

    private static long? HostMemoryBytes()
    {
        const string meminfo = "/proc/meminfo";
        if (!File.Exists(meminfo)) return null;
        foreach (var line in File.ReadLines(meminfo))
            if (line.StartsWith("MemAvailable:", StringComparison.Ordinal))
                return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) * 1024;
        return null;
    }
}
