using FineTuneLab.Trainer.Backends;
using FineTuneLab.Trainer.Models;
using FineTuneLab.Trainer.Tensors;

namespace FineTuneLab.Trainer.Training;

/// <summary>
/// One optimizer step over the trainable parameters of a model: forward and backward over each micro-batch
/// (gradients accumulate; each micro-batch's mean loss is divided by the number of micro-batches, as the Hugging Face
/// Trainer does), then global-norm clipping, then AdamW on the flat parameter region. The AdamW moments live in one
/// region allocated here, so the step itself allocates nothing.
/// </summary>
public sealed class TrainingStep : IDisposable
{
    private readonly TransformerModel _model;
    private readonly Arena _state;
    private readonly Tensor _m, _v;

    public TrainingStep(TransformerModel model, OptimizerSettings settings, ulong dropoutSeed = 0)
    {
        _model = model;
        Settings = settings;
        _dropoutSeed = dropoutSeed;
        var count = checked((int)model.ParametersFlat.Count);
        var bytes = 2 * Arena.Aligned((long)count * sizeof(float));
        _state = new Arena("optimizer state", model.Backend.AllocateMemory(bytes), ownsBlock: true);
        _m = _state.Allocate(DType.F32, count);
        _v = _state.Allocate(DType.F32, count);
    }

    private readonly ulong _dropoutSeed;

    public OptimizerSettings Settings { get; }
    public long StepCount { get; private set; }
    public long StateBytes => _state.Capacity;

    /// <summary>The AdamW moments (first, second), flat and aligned with <see cref="TransformerModel.ParametersFlat"/>.</summary>
    public Tensor FirstMoment => _m;
    public Tensor SecondMoment => _v;

    /// <summary>Restores a checkpointed optimizer: moments and the step counter (which also drives bias correction and dropout seeds).</summary>
    public void RestoreState(ReadOnlySpan<float> firstMoment, ReadOnlySpan<float> secondMoment, long stepCount)
    {
        if (firstMoment.Length != _m.Count || secondMoment.Length != _v.Count)
            throw new ArgumentException($"optimizer state has {firstMoment.Length}/{secondMoment.Length} values, this model trains {_m.Count}");
        ArgumentOutOfRangeException.ThrowIfNegative(stepCount);
        HostTransfer.Write(_model.Backend, _m, firstMoment);
        HostTransfer.Write(_model.Backend, _v, secondMoment);
        StepCount = stepCount;
    }

    /// <summary>One optimizer step; <paramref name="learningRate"/> overrides the settings' rate (a schedule's value for this step).</summary>
    public StepResult Step(ReadOnlySpan<MicroBatch> microBatches, float? learningRate = null)
    {
        if (microBatches.Length == 0) throw new ArgumentException("a step needs at least one micro-batch");
        var be = _model.Backend;
        _model.ZeroGradients();
        double loss = 0;
        int tokens = 0;
        for (int i = 0; i < microBatches.Length; i++)
        {
            var mb = microBatches[i];
            int valid = _model.SetBatch(mb.InputIds.Span, mb.Labels.Span, mb.Batch, mb.Seq, mb.PositionIds.Span, mb.SegmentIds.Span);
            float scale = valid == 0 ? 0f : 1f / (valid * (float)microBatches.Length);
            var ce = _model.Run(backward: true, scale, _dropoutSeed + (ulong)(StepCount * microBatches.Length + i) * 0x632BE59BD9B4E019UL);
            if (valid > 0) loss += ce.Mean / microBatches.Length;
            tokens += mb.Batch * mb.Seq;
        }
        float norm = ApplyGradients(learningRate);
        return new StepResult(loss, norm, tokens, StepCount);
    }

    /// <summary>
    /// The optimizer half of a step, for objectives that fill the gradients themselves (DPO): global-norm clipping,
    /// then AdamW on the flat region (<paramref name="learningRate"/> overrides the settings' rate). Returns the
    /// gradient norm before clipping.
    /// </summary>
    public float ApplyGradients(float? learningRate = null)
    {
        var be = _model.Backend;
        var grads = _model.GradientsFlat;
        float norm = Settings.MaxGradNorm > 0
            ? GradientClipping.ClipByGlobalNorm(be, grads, Settings.MaxGradNorm)
            : (float)Math.Sqrt(be.SumOfSquares(grads));
        StepCount++;
        var hyper = new AdamWHyperparameters(learningRate ?? Settings.LearningRate, Settings.Beta1, Settings.Beta2, Settings.Eps, Settings.WeightDecay, StepCount);
        be.AdamWStep(_model.ParametersFlat, grads, _m, _v, hyper);
        return norm;
    }

    public void Dispose() => _state.Dispose();
}
