namespace FineTuneLab.Coordinator.Anomalies;

/// <summary>An anomaly found in a job's streams, with a message a person can act on.</summary>
public sealed record Anomaly(string Kind, string Message, long? Step);

/// <summary>
/// The anomalies only the coordinator can see, because they need the agent's device telemetry next to the
/// trainer's events: a GPU that mostly waits (input-bound), GPU memory near its limit, and evaluation loss rising
/// while the training loss falls (overfitting). Pure functions over the samples, so each rule is tested alone.
/// </summary>
public static class AnomalyDetector
{
    /// <summary>Mean utilisation below this (percent) while a job runs means the GPU waits for input.</summary>
    public const double InputBoundUtilization = 50;
    /// <summary>Samples (one a second) needed before utilisation is judged: a job's start and first steps are not typical.</summary>
    public const int InputBoundMinSamples = 30;
    /// <summary>Memory used above this fraction of the GPU's total is near the limit.</summary>
    public const double MemoryNearLimitFraction = 0.95;
    /// <summary>Consecutive rising evaluations (after the lowest) that make a trend rather than noise.</summary>
    public const int OverfittingRisingEvals = 2;

    public static Anomaly? InputBound(IReadOnlyList<double> utilizationPercent, long? step)
    {
        if (utilizationPercent.Count < InputBoundMinSamples) return null;
        var mean = utilizationPercent.Average();
        if (mean >= InputBoundUtilization) return null;
        return new Anomaly(AnomalyKinds.GpuInputBound,
            $"GPU utilisation averaged {mean:0}% over the last {utilizationPercent.Count} samples while the job ran: the GPU is waiting for input. " +
            "Give the trainer more CPU threads (spec \"threads\"), raise micro_batch_size, or turn on packing so each step carries more work.", step);
    }

    public static Anomaly? MemoryNearLimit(double usedBytes, double totalBytes, long? step)
    {
        if (totalBytes <= 0 || usedBytes < MemoryNearLimitFraction * totalBytes) return null;
        return new Anomaly(AnomalyKinds.GpuMemoryNearLimit,
            $"GPU memory is {usedBytes / totalBytes:P0} used ({usedBytes / (1L << 30):0.0} of {totalBytes / (1L << 30):0.0} GiB): a longer batch may run out of memory. " +
            "Lower micro_batch_size or max_seq_len (raise gradient_accumulation_steps to keep the batch), or use method qlora; ftl-train plan shows what fits.", step);
    }

    /// <summary>
    /// Overfitting: the last <see cref="OverfittingRisingEvals"/> evaluations each rose above the one before, while
    /// the mean training loss between those evaluations fell.
    /// </summary>
    /// <param name="evals">(step, eval loss) in step order.</param>
    /// <param name="trainLosses">(step, training loss) in step order.</param>
    public static Anomaly? Overfitting(IReadOnlyList<(long Step, double Loss)> evals, IReadOnlyList<(long Step, double Loss)> trainLosses)
    {
        var n = OverfittingRisingEvals;
        if (evals.Count < n + 1) return null;
        var recent = evals.Skip(evals.Count - (n + 1)).ToList();
        for (var i = 1; i < recent.Count; i++)
            if (!(recent[i].Loss > recent[i - 1].Loss)) return null;
        double? MeanTrain(long after, long upTo)
        {
            var xs = trainLosses.Where(t => t.Step > after && t.Step <= upTo && double.IsFinite(t.Loss)).Select(t => t.Loss).ToList();
            return xs.Count == 0 ? null : xs.Average();
        }
        var before = MeanTrain(recent[0].Step - Math.Max(1, recent[1].Step - recent[0].Step), recent[0].Step);
        var after = MeanTrain(recent[^2].Step, recent[^1].Step);
        if (before is not { } b || after is not { } a || !(a < b)) return null;
        return new Anomaly(AnomalyKinds.Overfitting,
            $"eval loss rose {n} times in a row ({recent[0].Loss:G4} at step {recent[0].Step} → {recent[^1].Loss:G4} at step {recent[^1].Step}) while the training loss fell ({b:G4} → {a:G4}): " +
            $"the model is memorising the training data. Use the checkpoint at step {recent[0].Step}, or train fewer steps, add data, lower the learning rate or raise LoRA dropout.",
            recent[^1].Step);
    }
}
