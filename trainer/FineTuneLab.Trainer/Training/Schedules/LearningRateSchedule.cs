using FineTuneLab.Trainer.Jobs;

namespace FineTuneLab.Trainer.Training.Schedules;

/// <summary>
/// The learning rate at each optimizer step, as Hugging Face's schedulers compute it (transformers'
/// <c>get_constant_schedule_with_warmup</c>, <c>get_linear_schedule_with_warmup</c>,
/// <c>get_cosine_schedule_with_warmup</c> with one half-cycle): step 0 is the first optimizer step, so a warmup
/// starts at 0, and a decaying schedule reaches 0 at <see cref="TotalSteps"/>. A pure function of the step, so
/// resuming needs nothing but the step.
/// </summary>
public sealed record LearningRateSchedule(SchedulerKind Kind, double PeakLearningRate, long TotalSteps, long WarmupSteps)
{
    public static LearningRateSchedule From(OptimizerSpec optimizer, SchedulerSpec scheduler, long totalSteps)
    {
        // transformers: warmup_steps = ceil(num_training_steps * warmup_ratio).
        var warmup = scheduler.WarmupSteps ?? (long)Math.Ceiling(totalSteps * (scheduler.WarmupRatio ?? 0));
        return new LearningRateSchedule(scheduler.Type, optimizer.LearningRate, totalSteps, Math.Min(warmup, totalSteps));
    }

    public double At(long step) => PeakLearningRate * Factor(step);

    private double Factor(long step)
    {
        if (step < WarmupSteps) return (double)step / Math.Max(1, WarmupSteps);
        var decaySteps = Math.Max(1, TotalSteps - WarmupSteps);
        var progress = (double)(step - WarmupSteps) / decaySteps;
        return Kind switch
        {
            SchedulerKind.Constant => 1.0,
            SchedulerKind.Linear => Math.Max(0.0, (double)(TotalSteps - step) / decaySteps),
            SchedulerKind.Cosine => Math.Max(0.0, 0.5 * (1.0 + Math.Cos(Math.PI * progress))),
            _ => throw new ArgumentOutOfRangeException(nameof(Kind), Kind, "unknown scheduler"),
        };
    }
}
