using FineTuneLab.Trainer.Events;
using FineTuneLab.Trainer.Jobs;
using FineTuneLab.Trainer.Models;

namespace FineTuneLab.Trainer.Training.Run;

/// <summary>
/// Supervised training (methods lora, qlora, full): the mean next-token cross-entropy over the labelled tokens of
/// packed or padded rows, micro_batch_size rows per micro-batch, gradient_accumulation_steps micro-batches per step
/// (<see cref="TrainingStep"/>); evaluated by <see cref="Evaluator"/> on the validation rows.
/// </summary>
internal sealed class SupervisedObjective : ITrainingObjective
{
    private readonly JobSpec _spec;
    private readonly ITrainingSequences _sequences;
    private readonly BatchStream _batches;
    private readonly long _rowsPerEpoch;
    private Evaluator? _evaluator;
    private IEnumerator<(MicroBatch[] MicroBatches, DataCursor After, long Tokens)>? _steps;

    public SupervisedObjective(JobSpec spec, ITrainingSequences sequences, int padId)
    {
        _spec = spec;
        _sequences = sequences;
        _batches = new BatchStream(sequences, spec.MicroBatchSize, spec.GradientAccumulationSteps, padId);
        (_rowsPerEpoch, TokensPerEpoch) = BatchStream.Measure(sequences.Epoch(0));
    }

    public int MaxBatchRows => _spec.MicroBatchSize;
    public int UnitsPerStep => _batches.RowsPerStep;
    public long UnitsPerEpoch => _rowsPerEpoch;
    public long TokensPerEpoch { get; }
    public bool HasValidation => _sequences.HasValidation;
    public bool EvaluatesBaseline => false;
    public DataCursor Cursor { get; set; }

    public string Describe(TransformerModel model, long stepsPerEpoch) =>
        $"{model.Config.Architecture}: {model.TrainableCount:N0} trainable parameters ({(model.Options.Lora is { } lora ? $"LoRA r={lora.Rank}" : "full")}), "
        + $"{_rowsPerEpoch} rows of {_spec.MaxSeqLen} tokens per epoch, {stepsPerEpoch} steps per epoch";

    public void Attach(TransformerModel model, Action<TrainerEvent> emit) => _evaluator = new Evaluator(model, _batches);

    public ObjectiveStep Step(TrainingStep optimizer, long step, double learningRate)
    {
        // one pass over the data from the cursor, started at the first step (after any resume has moved the cursor)
        _steps ??= _batches.Steps(Cursor).GetEnumerator();
        _steps.MoveNext();
        var (micro, after, tokens) = _steps.Current;
        var outcome = optimizer.Step(micro, (float)learningRate);
        Cursor = after;
        return new ObjectiveStep(outcome.Loss, outcome.GradNorm, tokens);
    }

    public EvalEvent Evaluate(long step)
    {
        var r = _evaluator!.Run(_sequences.Validation(), _spec.MicroBatchSize, _spec.Eval.MaxBatches);
        return new EvalEvent(step, r.Loss, r.TokenAccuracy, r.Perplexity, r.Tokens);
    }

    public void Dispose()
    {
        _steps?.Dispose();
        _evaluator?.Dispose();
        _sequences.Dispose();
    }
}
