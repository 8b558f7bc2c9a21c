namespace FineTuneLab.Trainer.Training.Run;

/// <summary>The run cannot start with these inputs (bad data, an unusable checkpoint, a model that does not fit the
/// job): exit code 2, like an invalid job spec, as opposed to a failure while training (exit code 1).</summary>
public sealed class RunRefusedException(string message, Exception? inner = null) : Exception(message, inner);
