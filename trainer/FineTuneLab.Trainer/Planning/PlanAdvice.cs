using FineTuneLab.Trainer.Jobs;

namespace FineTuneLab.Trainer.Planning;

/// <summary>What to change when a plan does not fit: the settings that shrink the largest parts, each with the memory it would need.</summary>
public static class PlanAdvice
{
    public static List<string> WhenOver(JobSpec spec, MemoryPlan plan, long budgetBytes, Func<JobSpec, MemoryPlan> replan)
    {
        var advice = new List<string>();
        void Try(string what, JobSpec changed)
        {
            var p = replan(changed);
            if (p.PeakBytes >= plan.PeakBytes) return;
            advice.Add($"{what}: {Mib(p.PeakBytes)} ({(p.PeakBytes <= budgetBytes ? "fits" : "still over")})");
        }
        if (spec.MicroBatchSize > 1)
            Try($"micro_batch_size {spec.MicroBatchSize} → 1 with gradient_accumulation_steps × {spec.MicroBatchSize}",
                spec with { MicroBatchSize = 1, GradientAccumulationSteps = spec.GradientAccumulationSteps * spec.MicroBatchSize });
        if (spec.MaxSeqLen > 256) Try($"max_seq_len {spec.MaxSeqLen} → {spec.MaxSeqLen / 2}", spec with { MaxSeqLen = spec.MaxSeqLen / 2 });
        if (spec.Method == TrainingMethod.Full) Try("method full → lora", spec with { Method = TrainingMethod.Lora });
        if (spec.Model.WeightDType is WeightDType.Auto or WeightDType.Fp32)
            Try("model.weight_dtype → bf16", spec with { Model = spec.Model with { WeightDType = WeightDType.Bf16 } });
        advice.Add($"method qlora (4-bit NF4 frozen weights) would cut the frozen weights from {Mib(plan.Bytes("frozen weights"))} to about a quarter of bf16; gradient checkpointing would cut activations ({Mib(plan.Bytes("activations"))}) to about one layer's worth (neither is in this engine yet)");
        return advice;
    }

    public static string Mib(long bytes) => $"{bytes / 1048576.0:F1} MiB";
}
