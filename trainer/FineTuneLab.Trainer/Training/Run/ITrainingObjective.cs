using FineTuneLab.Trainer.Events;
using FineTuneLab.Trainer.Models;

namespace FineTuneLab.Trainer.Training.Run;

/// <summary>What one optimizer step of an objective measured.</summary>
/// <param name="Tokens">tokens the step read (its share of <c>tokens_per_s</c> and the run's token count)</param>
/// <param name="Dpo">DPO's reward figures over the step's pairs; null for the supervised objective</param>
public readonly record struct ObjectiveStep(double Loss, float GradNorm, long Tokens, PreferenceFigures? Dpo = null);

/// <summary>
/// What a training method brings to the one run loop of <see cref="TrainingRun"/>: its data, in steps of
/// <see cref="UnitsPerStep"/> units (rows for supervised training, preference pairs for DPO) read from a resumable
/// <see cref="Cursor"/>, one step (batch → loss, gradients, metrics) and one evaluation. The loop owns everything
/// else: the model, the optimizer, the schedule, resume, checkpoints, the evaluation cadence, stop requests and events.
/// </summary>
internal interface ITrainingObjective : IDisposable
{
    /// <summary>Sequences the engine's activations must hold at once (micro_batch_size, or two rows per pair for DPO evaluation).</summary>
    int MaxBatchRows { get; }

    /// <summary>Rows or pairs one optimizer step consumes (micro-batch × accumulation).</summary>
    int UnitsPerStep { get; }

    /// <summary>Rows or pairs in one epoch of the training data.</summary>
    long UnitsPerEpoch { get; }

    long TokensPerEpoch { get; }

    /// <summary>Whether there is anything to evaluate.</summary>
    bool HasValidation { get; }

    /// <summary>Whether a fresh run evaluates before its first step (DPO: the policy is still the reference, the curve's baseline).</summary>
    bool EvaluatesBaseline { get; }

    /// <summary>Where the next step's data starts; the loop sets it on resume and saves it in checkpoints.</summary>
    DataCursor Cursor { get; set; }

    /// <summary>The run's opening log line (model, trainable parameters, data per epoch).</summary>
    string Describe(TransformerModel model, long stepsPerEpoch);

    /// <summary>Binds the objective to the model, after the start event (DPO computes or reads its reference log-probabilities here).</summary>
    void Attach(TransformerModel model, Action<TrainerEvent> emit);

    /// <summary>
    /// One optimizer step at <paramref name="learningRate"/>: forward and backward over the next units from
    /// <see cref="Cursor"/> (which moves past them), then the optimizer. <paramref name="step"/> is the number of steps
    /// already taken (a resumed run continues the count).
    /// </summary>
    ObjectiveStep Step(TrainingStep optimizer, long step, double learningRate);

    /// <summary>Evaluates the held-out data at <paramref name="step"/>.</summary>
    EvalEvent Evaluate(long step);
}
