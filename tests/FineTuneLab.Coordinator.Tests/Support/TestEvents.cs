using FineTuneLab.Events;

namespace FineTuneLab.Coordinator.Tests;

/// <summary>Trainer events for scenario tests: the shared records with the fields a test does not care about filled in.</summary>
internal static class TestEvents
{
    private static readonly MemoryFigures NoMemory = new(0, 0, 0, 0, 0);

    public static StepEvent Step(long step, double loss = 1.0, double elapsedS = 0, DateTimeOffset? time = null, long totalSteps = 1000,
        long tokens = 0, double tokensPerS = 0, long seq = 0) =>
        new(step, totalSteps, 0, loss, 1e-4, 1.0, tokensPerS, 0, elapsedS, tokens, NoMemory) { Seq = Math.Max(1, seq == 0 ? step : seq), Time = time ?? DateTimeOffset.UtcNow };

    public static EvalEvent Eval(long step, double evalLoss) =>
        new(step, evalLoss, 0.5, Math.Exp(evalLoss), 0) { Seq = step, Time = DateTimeOffset.UtcNow };

    public static CheckpointEvent Checkpoint(long step, DateTimeOffset time) =>
        new(step, $"checkpoint-{step}", 1, new string('0', 64)) { Seq = step, Time = time };

    public static WarningEvent Warning(string kind, string message, long step) => new(kind, message, step) { Seq = step, Time = DateTimeOffset.UtcNow };
}
