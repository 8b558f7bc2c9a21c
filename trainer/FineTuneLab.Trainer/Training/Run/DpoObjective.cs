using FineTuneLab.Trainer.Data;
using FineTuneLab.Trainer.Events;
using FineTuneLab.Trainer.Jobs;
using FineTuneLab.Trainer.Models;
using FineTuneLab.Trainer.Training.Dpo;

namespace FineTuneLab.Trainer.Training.Run;

/// <summary>
/// <c>method: dpo</c> (docs/qlora-dpo.md): preference pairs, a LoRA adapter (on an NF4 base with dpo.quantize_base)
/// trained by <see cref="DpoStep"/> (each answer its own sequence), evaluated in padded batches of micro_batch_size
/// pairs. The data cursor counts pairs, in a seeded order per epoch; the reference log-probabilities are computed once
/// and cached by content hash (<see cref="DpoReferenceCache"/>).
/// </summary>
internal sealed class DpoObjective : ITrainingObjective
{
    private readonly JobSpec _spec;
    private readonly List<DpoPair> _trainPairs, _evalPairs;
    private readonly IReadOnlyList<string> _referenceFolders;
    private readonly ulong _dropoutSeed;
    private readonly List<DpoPair> _stepPairs;
    private readonly List<DpoReference> _stepRefs;
    private DpoStep? _dpo;
    private DpoReference[] _trainRefs = [], _evalRefs = [];
    private int[]? _order;
    private int _orderEpoch = -1;

    /// <param name="referenceFolders">where the reference log-probabilities are kept (the first) and looked for (all)</param>
    public DpoObjective(JobSpec spec, List<DpoPair> trainPairs, List<DpoPair> validationPairs, IReadOnlyList<string> referenceFolders, ulong dropoutSeed)
    {
        _spec = spec;
        _trainPairs = trainPairs;
        _evalPairs = spec.Eval.MaxBatches > 0 ? validationPairs.Take(spec.Eval.MaxBatches * spec.MicroBatchSize).ToList() : validationPairs;
        _referenceFolders = referenceFolders;
        _dropoutSeed = dropoutSeed;
        UnitsPerStep = spec.MicroBatchSize * spec.GradientAccumulationSteps;
        TokensPerEpoch = trainPairs.Sum(p => (long)p.ChosenIds.Length + p.RejectedIds.Length);
        _stepPairs = new List<DpoPair>(UnitsPerStep);
        _stepRefs = new List<DpoReference>(UnitsPerStep);
        ValidationPairs = validationPairs.Count;
    }

    // training runs one answer at a time; evaluation runs micro_batch_size pairs (2 rows each) per padded batch
    public int MaxBatchRows => 2 * _spec.MicroBatchSize;
    public int UnitsPerStep { get; }
    public long UnitsPerEpoch => _trainPairs.Count;
    public long TokensPerEpoch { get; }
    public bool HasValidation => _evalPairs.Count > 0;
    public bool EvaluatesBaseline => true;
    public DataCursor Cursor { get; set; }
    private int ValidationPairs { get; }

    public string Describe(TransformerModel model, long stepsPerEpoch) =>
        $"{model.Config.Architecture}: {model.TrainableCount:N0} trainable parameters (DPO, LoRA r={model.Options.Lora!.Rank}, beta {_spec.Dpo.Beta}"
        + $"{(_spec.Dpo.QuantizeBase ? ", NF4 base" : "")}), {_trainPairs.Count} training pairs, {ValidationPairs} validation pairs, {stepsPerEpoch} steps per epoch";

    public void Attach(TransformerModel model, Action<TrainerEvent> emit)
    {
        var dpo = _dpo = new DpoStep(model, (float)_spec.Dpo.Beta, _spec.MicroBatchSize);
        // the reference log-probabilities depend only on the frozen base, the engine's arithmetic and the tokenized
        // pairs: computed once and kept in OUT/dpo-reference (a resumed run also looks beside the run it resumes)
        var engineSettings = $"{model.Backend.Name}|weights={model.Options.WeightDType?.ToString() ?? "as stored"}|nf4={model.Options.QuantizeBase}";
        DpoReference[] References(string set, string computation, List<DpoPair> pairs, Func<IReadOnlyList<DpoPair>, DpoReference[]> compute)
        {
            var key = DpoReferenceCache.Key(_spec.Model.Path, engineSettings, computation, pairs);
            var refs = DpoReferenceCache.GetOrCompute(_referenceFolders, key, pairs, compute, out var fromCache);
            emit(new LogEvent("info", $"reference log-probabilities of the {pairs.Count} {set} pairs {(fromCache ? "read from" : "computed and saved in")} dpo-reference/{key}.bin"));
            return refs;
        }
        _trainRefs = References("training", "training: one sequence at a time", _trainPairs, dpo.TrainingReferences);
        _evalRefs = _evalPairs.Count > 0
            ? References("validation", $"evaluation: {dpo.BatchPairs} pairs per padded batch", _evalPairs, dpo.EvaluationReferences)
            : [];
    }

    public ObjectiveStep Step(TrainingStep optimizer, long step, double learningRate)
    {
        var tokens = TakePairs();
        // the dropout masks depend on the step only, so a resumed run draws the same ones
        var m = _dpo!.Step(optimizer, _stepPairs, _stepRefs, _dropoutSeed + (ulong)step * 0x9E3779B97F4A7C15UL, (float)learningRate);
        return new ObjectiveStep(m.Loss, m.GradNorm, tokens, Figures(m));
    }

    /// <summary>The pairs of one optimizer step, in the seeded order of their epoch; the cursor moves past them. Returns their tokens.</summary>
    private long TakePairs()
    {
        _stepPairs.Clear();
        _stepRefs.Clear();
        long tokens = 0;
        var cursor = Cursor;
        while (_stepPairs.Count < UnitsPerStep)
        {
            if (cursor.Index >= _trainPairs.Count) cursor = new DataCursor(cursor.Epoch + 1, 0);
            if (_orderEpoch != cursor.Epoch)
            {
                _order = DeterministicShuffle.Permutation(_trainPairs.Count, DeterministicShuffle.EpochSeed(_spec.Seed, cursor.Epoch));
                _orderEpoch = cursor.Epoch;
            }
            var i = _order![cursor.Index];
            _stepPairs.Add(_trainPairs[i]);
            _stepRefs.Add(_trainRefs[i]);
            tokens += _trainPairs[i].ChosenIds.Length + _trainPairs[i].RejectedIds.Length;
            cursor = cursor with { Index = cursor.Index + 1 };
        }
        Cursor = cursor;
        return tokens;
    }

    public EvalEvent Evaluate(long step)
    {
        var m = _dpo!.Evaluate(_evalPairs, _evalRefs);
        // token accuracy and perplexity are language-model measures; a DPO evaluation reports its own in "dpo"
        return new EvalEvent(step, m.Loss, 0, 0, _evalPairs.Sum(p => (long)p.ChosenIds.Length + p.RejectedIds.Length), Figures(m));
    }

    private static PreferenceFigures Figures(DpoMetrics m) => new(m.RewardMargin, m.Accuracy, m.ChosenReward, m.RejectedReward, m.Pairs);

    public void Dispose() => _dpo?.Dispose();
}
