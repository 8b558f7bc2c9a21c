using FineTuneLab.Trainer.Jobs;

namespace FineTuneLab.Trainer.Planning;

/// <summary>
/// Steps, tokens and (given a throughput and a price) time and cost of a run. With packing, an epoch is the data's
/// tokens cut into max_seq_len sequences; without, one sequence per example padded to the micro-batch's longest.
/// </summary>
public sealed record RunProjection(long SequencesPerEpoch, long StepsPerEpoch, long TotalSteps, long TokensPerStep, long TotalTokens,
    double? Hours, double? Cost)
{
    public static RunProjection Compute(JobSpec spec, DataTokenCount data, double? tokensPerSecond, double? pricePerHour)
    {
        long sequences = spec.Packing ? (data.Tokens + spec.MaxSeqLen - 1) / spec.MaxSeqLen : data.Examples;
        long perStep = (long)spec.MicroBatchSize * spec.GradientAccumulationSteps;
        long stepsPerEpoch = Math.Max(1, (sequences + perStep - 1) / perStep);
        long total = spec.MaxSteps ?? (long)Math.Ceiling(stepsPerEpoch * (spec.Epochs ?? 1));
        long tokensPerStep = perStep * (spec.Packing ? spec.MaxSeqLen : Math.Min(spec.MaxSeqLen, Math.Max(1, data.LongestExample)));
        long totalTokens = spec.MaxSteps is null && spec.Packing
            ? (long)Math.Ceiling(data.Tokens * (spec.Epochs ?? 1))
            : total * tokensPerStep;
        double? hours = tokensPerSecond is > 0 ? totalTokens / tokensPerSecond.Value / 3600 : null;
        double? cost = hours is { } h && pricePerHour is { } p ? h * p : null;
        return new RunProjection(sequences, stepsPerEpoch, total, tokensPerStep, totalTokens, hours, cost);
    }
}
