using FineTuneLab.Trainer.Models;
using FineTuneLab.Trainer.Tensors;

namespace FineTuneLab.Trainer.Training.Dpo;

/// <summary>What one DPO evaluation or step measured, averaged over its pairs.</summary>
public sealed record DpoMetrics(double Loss, double RewardMargin, double Accuracy, double ChosenReward, double RejectedReward, int Pairs,
    float GradNorm = 0f);

/// <summary>
/// Direct Preference Optimization (Rafailov et al. 2023) on a LoRA / QLoRA model:
/// loss = -log σ(β · ((log π(c) - log π_ref(c)) - (log π(r) - log π_ref(r)))), the log-probabilities summed over the
/// answer tokens (labels ≠ -100), averaged over the pairs of an optimizer step. The reference policy is the same frozen
/// base with the adapters switched off, so no second model is held; its log-probabilities are computed once per
/// dataset. The rewards are β · (log π - log π_ref).
/// <para>
/// Training (<see cref="Step"/>) runs each answer forward and backward once, as its own sequence, with the engine's
/// summed cross-entropy (= -log π) at gradient scale 1, and keeps that answer's gradient: once both answers of a pair
/// are through, z is known and the pair adds w·(∇CE_c − ∇CE_r), w = β·σ(-z)/P, to the step's gradient. The engine has
/// one loss scale per batch, so the per-pair weights that DPO needs are applied here rather than in a batched backward.
/// </para>
/// <para>
/// Evaluation (<see cref="Evaluate"/>) is forward only, <see cref="BatchPairs"/> pairs per right-padded batch
/// (<see cref="DpoBatch"/>), the log-probabilities read per row from the logits under the row's response mask.
/// </para>
/// Each log-probability is compared only with a reference computed the same way (training pairs by
/// <see cref="TrainingReferences"/>, evaluation pairs by <see cref="EvaluationReferences"/>), so with the adapter at its
/// initialisation (B = 0) every reward is exactly 0.
/// </summary>
public sealed class DpoStep : IDisposable
{
    private const int LogitChunkRows = 64;
    private readonly Arena _scratch;
    private readonly Tensor _gradAnswer, _gradStep, _logits;
    private readonly NativeBuffer? _hostLogits;
    private readonly DpoBatch _batch;
    private readonly double[] _batchLogProbs;

    /// <param name="batchPairs">pairs per evaluation batch: the model needs MaxBatch ≥ 2 × this (default: all it has room for)</param>
    public DpoStep(TransformerModel model, float beta = 0.1f, int? batchPairs = null)
    {
        Model = model;
        Beta = beta;
        BatchPairs = batchPairs ?? Math.Max(1, model.Options.MaxBatch / 2);
        if (BatchPairs < 1 || 2 * BatchPairs > model.Options.MaxBatch)
            throw new ArgumentException($"{BatchPairs} pairs per batch need MaxBatch ≥ {2 * BatchPairs}; the engine has {model.Options.MaxBatch}");
        var be = model.Backend;
        var gradCount = checked((int)model.GradientsFlat.Count);
        var vocab = model.Config.VocabSize;
        _scratch = new Arena("DPO scratch", be.AllocateMemory(2 * Arena.Aligned((long)gradCount * sizeof(float))
            + Arena.Aligned((long)LogitChunkRows * vocab * sizeof(float))), ownsBlock: true);
        _gradAnswer = _scratch.Allocate(DType.F32, gradCount);
        _gradStep = _scratch.Allocate(DType.F32, gradCount);
        _logits = _scratch.Allocate(DType.F32, LogitChunkRows, vocab);
        if (be.Location != MemoryLocation.Host) _hostLogits = new NativeBuffer((long)LogitChunkRows * vocab * sizeof(float));
        _batch = new DpoBatch(BatchPairs, model.Options.MaxSeq);
        _batchLogProbs = new double[2 * BatchPairs];
    }

    public float Beta { get; }
    public TransformerModel Model { get; }
    public int BatchPairs { get; }

    /// <summary>Summed log-probability of the labelled tokens of one sequence, run forward (and backward at scale 1).</summary>
    private double SequenceLogProb(int[] ids, int[] labels, bool backward, ulong seed)
    {
        Model.SetBatch(ids, labels, 1, ids.Length);
        var ce = Model.Run(backward, 1f, seed);
        if (ce.ValidTokens == 0) throw new ArgumentException("a DPO answer has no labelled token");
        return -ce.LossSum;
    }

    /// <summary>The reference log-probabilities (adapters off) of training pairs, computed as <see cref="Step"/> computes the policy's.</summary>
    public DpoReference[] TrainingReferences(IReadOnlyList<DpoPair> pairs) => WithAdaptersOff(() =>
    {
        var result = new DpoReference[pairs.Count];
        for (int i = 0; i < pairs.Count; i++)
            result[i] = new DpoReference(SequenceLogProb(pairs[i].ChosenIds, pairs[i].ChosenLabels, false, 0),
                SequenceLogProb(pairs[i].RejectedIds, pairs[i].RejectedLabels, false, 0));
        return result;
    });

    /// <summary>The reference log-probabilities (adapters off) of evaluation pairs, computed as <see cref="Evaluate"/> computes the policy's.</summary>
    public DpoReference[] EvaluationReferences(IReadOnlyList<DpoPair> pairs) => WithAdaptersOff(() =>
    {
        var result = new DpoReference[pairs.Count];
        ForEachBatch(pairs, (i, chosen, rejected) => result[i] = new DpoReference(chosen, rejected));
        return result;
    });

    private T WithAdaptersOff<T>(Func<T> compute)
    {
        Model.SetLoraEnabled(false);
        try { return compute(); }
        finally { Model.SetLoraEnabled(true); }
    }

    /// <summary>Loss and metrics of the pairs under the current adapter, forward only, in padded batches.</summary>
    public DpoMetrics Evaluate(IReadOnlyList<DpoPair> pairs, IReadOnlyList<DpoReference> references)
    {
        CheckCounts(pairs, references);
        var sum = new MetricSum(Beta);
        ForEachBatch(pairs, (i, chosen, rejected) => sum.Add(chosen, rejected, references[i]));
        return sum.Mean(pairs.Count);
    }

    /// <summary>
    /// One optimizer step on the pairs (all micro-batches of the step: the gradient is the mean over every pair):
    /// DPO gradients, clipping, AdamW at the scheduled rate when given. The loss and metrics are the step's pairs'
    /// before the update.
    /// </summary>
    public DpoMetrics Step(TrainingStep optimizer, IReadOnlyList<DpoPair> pairs, IReadOnlyList<DpoReference> references, ulong dropoutSeed = 0,
        float? learningRate = null)
    {
        var m = Gradients(pairs, references, dropoutSeed);
        return m with { GradNorm = optimizer.ApplyGradients(learningRate) };
    }

    /// <summary>Sets the model's gradients to those of the mean DPO loss over the pairs; returns the loss and metrics.</summary>
    public DpoMetrics Gradients(IReadOnlyList<DpoPair> pairs, IReadOnlyList<DpoReference> references, ulong dropoutSeed = 0)
    {
        CheckCounts(pairs, references);
        var be = Model.Backend;
        var grads = Model.GradientsFlat;
        be.Zero(_gradStep);
        var sum = new MetricSum(Beta);
        for (int i = 0; i < pairs.Count; i++)
        {
            var p = pairs[i];
            ulong seedC = dropoutSeed + (ulong)(2 * i) * 0x9E3779B97F4A7C15UL, seedR = dropoutSeed + (ulong)(2 * i + 1) * 0x9E3779B97F4A7C15UL;
            be.Zero(grads);
            double chosen = SequenceLogProb(p.ChosenIds, p.ChosenLabels, backward: true, seedC);
            be.Copy(grads, _gradAnswer);
            be.Zero(grads);
            double rejected = SequenceLogProb(p.RejectedIds, p.RejectedLabels, backward: true, seedR);
            double z = sum.Add(chosen, rejected, references[i]);
            // d loss/d logπ = ∓β σ(-z) / P and CE = -logπ: the pair adds w ∇CE_c - w ∇CE_r with w = β σ(-z) / P
            float w = (float)(Beta * Sigmoid(-z) / pairs.Count);
            be.Axpy(w, _gradAnswer, _gradStep);
            be.Axpy(-w, grads, _gradStep);
        }
        be.Copy(_gradStep, grads);
        return sum.Mean(pairs.Count);
    }

    /// <summary>Runs the pairs forward in padded batches and hands each pair's chosen and rejected log-probability to <paramref name="visit"/>.</summary>
    private void ForEachBatch(IReadOnlyList<DpoPair> pairs, Action<int, double, double> visit)
    {
        for (int start = 0; start < pairs.Count; start += BatchPairs)
        {
            int count = Math.Min(BatchPairs, pairs.Count - start);
            _batch.Stage(pairs, start, count);
            Model.SetBatch(_batch.InputIds, _batch.Labels, _batch.Rows, _batch.Seq);
            Model.Run(backward: false, 0f);
            RowLogProbs(_batch, _batchLogProbs);
            for (int i = 0; i < count; i++)
                visit(start + i, _batchLogProbs[_batch.ChosenRow(i)], _batchLogProbs[_batch.RejectedRow(i)]);
        }
    }

    /// <summary>
    /// Each row's summed log-probability of its labelled tokens, from the logits of the last forward: only the
    /// positions that predict a label are computed, a chunk at a time.
    /// </summary>
    private void RowLogProbs(DpoBatch batch, double[] result)
    {
        var labels = batch.Labels;
        int seq = batch.Seq, vocab = Model.Config.VocabSize;
        for (int r = 0; r < batch.Rows; r++)
        {
            var rowLabels = labels.Slice(r * seq, seq);
            int first = -1, last = -1;
            for (int t = 1; t < seq; t++)
                if (rowLabels[t] != Backends.CrossEntropyResult.IgnoreIndex)
                {
                    if (first < 0) first = t;
                    last = t;
                }
            if (first < 0) throw new ArgumentException("a DPO answer has no labelled token");
            double logProb = 0;
            // position t's logits predict label t + 1
            for (int from = first - 1; from < last; from += LogitChunkRows)
            {
                int rows = Math.Min(LogitChunkRows, last - from);
                var chunk = _logits.Slice(0, rows);
                Model.ComputeLogits(chunk, r * seq + from, rows);
                var host = HostLogits(chunk);
                for (int k = 0; k < rows; k++)
                {
                    int target = rowLabels[from + k + 1];
                    if (target == Backends.CrossEntropyResult.IgnoreIndex) continue;
                    logProb += LogSoftmaxAt(host.Slice(k * vocab, vocab), target);
                }
            }
            result[r] = logProb;
        }
    }

    private ReadOnlySpan<float> HostLogits(Tensor chunk)
    {
        if (_hostLogits is null) return chunk.AsFloat();
        var host = new Tensor(_hostLogits.Pointer, DType.F32, chunk.Shape, MemoryLocation.Host);
        Model.Backend.Download(chunk, host);
        return host.AsFloat();
    }

    private static double LogSoftmaxAt(ReadOnlySpan<float> logits, int target)
    {
        float max = float.NegativeInfinity;
        foreach (var x in logits) max = Math.Max(max, x);
        double sum = 0;
        foreach (var x in logits) sum += Math.Exp(x - max);
        return logits[target] - max - Math.Log(sum);
    }

    private static void CheckCounts(IReadOnlyList<DpoPair> pairs, IReadOnlyList<DpoReference> references)
    {
        if (pairs.Count == 0 || pairs.Count != references.Count)
            throw new ArgumentException($"{pairs.Count} pairs and {references.Count} reference log-probabilities");
    }

    /// <summary>Sums of the loss and the measures over pairs.</summary>
    private sealed class MetricSum(float beta)
    {
        private double _loss, _margin, _correct, _chosen, _rejected;

        /// <summary>Adds one pair; returns its z = chosen reward − rejected reward.</summary>
        public double Add(double chosenLogProb, double rejectedLogProb, DpoReference reference)
        {
            double rc = beta * (chosenLogProb - reference.Chosen), rr = beta * (rejectedLogProb - reference.Rejected), z = rc - rr;
            _loss += LogOnePlusExp(-z);
            _margin += z;
            _chosen += rc;
            _rejected += rr;
            if (rc > rr) _correct++; // ties (the reference itself) count as wrong, as in TRL
            return z;
        }

        public DpoMetrics Mean(int n) => new(_loss / n, _margin / n, _correct / n, _chosen / n, _rejected / n, n);
    }

    private static double Sigmoid(double x) => x >= 0 ? 1 / (1 + Math.Exp(-x)) : Math.Exp(x) / (1 + Math.Exp(x));

    // log(1 + e^x) without overflow: -log σ(z) = LogOnePlusExp(-z)
    private static double LogOnePlusExp(double x) => x > 0 ? x + Math.Log(1 + Math.Exp(-x)) : Math.Log(1 + Math.Exp(x));

    public void Dispose()
    {
        _scratch.Dispose();
        _hostLogits?.Dispose();
    }
}
