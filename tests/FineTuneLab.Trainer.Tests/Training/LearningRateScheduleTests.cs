using System.Text.Json;
using FineTuneLab.TestSupport;
using FineTuneLab.Trainer.Jobs;
using FineTuneLab.Trainer.Training.Schedules;

namespace FineTuneLab.Trainer.Tests.Training;

public class LearningRateScheduleTests
{
    private static readonly (SchedulerKind Kind, int Total, int? WarmupSteps, double? WarmupRatio)[] Cases =
    [
        (SchedulerKind.Constant, 20, 5, null),
        (SchedulerKind.Linear, 20, 5, null),
        (SchedulerKind.Cosine, 20, 5, null),
        (SchedulerKind.Cosine, 33, null, 0.1),
        (SchedulerKind.Linear, 7, 0, null),
        (SchedulerKind.Constant, 4, null, null),
    ];

    /// <summary>The same schedules from PyTorch's LambdaLR with transformers' published lambdas (scripts/lr_schedule_ref.py).</summary>
    [Fact]
    public async Task Matches_pytorch_lambda_lr_with_transformers_schedules()
    {
        const double peak = 3e-4;
        var request = JsonSerializer.Serialize(Cases.Select(c => new
        {
            kind = c.Kind.ToString().ToLowerInvariant(), total = c.Total, warmup_steps = c.WarmupSteps, warmup_ratio = c.WarmupRatio, lr = peak,
        }));
        var result = await ExternalProcess.RunAsync(ExternalProcess.DebianPython, [Path.Combine(RepoPaths.Scripts, "lr_schedule_ref.py")], stdin: request);
        var expected = JsonSerializer.Deserialize<double[][]>(result.EnsureSuccess("lr_schedule_ref.py").StdOut)!;

        for (var i = 0; i < Cases.Length; i++)
        {
            var (kind, total, warmupSteps, warmupRatio) = Cases[i];
            var schedule = LearningRateSchedule.From(new OptimizerSpec { LearningRate = peak },
                new SchedulerSpec { Type = kind, WarmupSteps = warmupSteps, WarmupRatio = warmupRatio }, total);
            Assert.Equal(total, expected[i].Length);
            for (var step = 0; step < total; step++)
                Assert.True(Math.Abs(expected[i][step] - schedule.At(step)) <= 1e-12,
                    $"{kind} case {i} step {step}: torch {expected[i][step]}, ours {schedule.At(step)}");
        }
    }
}
