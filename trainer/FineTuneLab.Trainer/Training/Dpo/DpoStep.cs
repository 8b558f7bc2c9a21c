using FineTuneLab.Trainer.Models;

namespace FineTuneLab.Trainer.Training.Dpo;

/// <summary>What one DPO evaluation or step measured, averaged over its pairs.</summary>
public sealed record DpoMetrics(double Loss, double RewardMargin, double Accuracy, double ChosenReward, double RejectedReward, int Pairs,
    float GradNorm = 0f);

/// <summary>
/// Direct Preference Optimization (Rafailov et al. 2023) on a LoRA / QLoRA model:
/// loss = -log σ(β · ((log π(c) - log π_ref(c)) - (log π(r) - log π_ref(r)))), the log-probabilities summed over the
/// answer tokens (labels ≠ -100). The reference policy is the same frozen base with the adapters switched off, so no
/// second model is held; its log-probabilities can be computed once per dataset (<see cref="ReferenceLogProbs"/>).
/// The rewards are β · (log π - log π_ref). Each answer runs as its own sequence: the engine's summed cross-entropy
/// is -log π, and the loss gradient reaches it as a per-sequence weight through the cross-entropy's gradient scale
/// (d loss / d CE_c = β·σ(-z)/P, d loss / d CE_r = -β·σ(-z)/P for P pairs), after a forward pass that measures z.
/// </summary>
public sealed class DpoStep(TransformerModel model, float beta = 0.1f)
{
    public float Beta { get; } = beta;
    public TransformerModel Model { get; } = model;

    /// <summary>Summed log-probability of the labelled tokens of one sequence under the model as it is now.</summary>
    private double LogProb(int[] ids, int[] labels, bool backward, float gradScale, ulong seed)
    {
        Model.SetBatch(ids, labels, 1, ids.Length);
        var ce = Model.Run(backward, gradScale, seed);
        if (ce.ValidTokens == 0) throw new ArgumentException("a DPO answer has no labelled token");
        return -ce.LossSum;
    }

    /// <summary>The reference log-probabilities (adapters off) of every pair; cache them, they never change.</summary>
    public DpoReference[] ReferenceLogProbs(IReadOnlyList<DpoPair> pairs)
    {
        Model.SetLoraEnabled(false);
        try
        {
            var result = new DpoReference[pairs.Count];
            for (int i = 0; i < pairs.Count; i++)
                result[i] = new DpoReference(LogProb(pairs[i].ChosenIds, pairs[i].ChosenLabels, false, 0f, 0),
                    LogProb(pairs[i].RejectedIds, pairs[i].RejectedLabels, false, 0f, 0));
            return result;
        }
        finally
        {
            Model.SetLoraEnabled(true);
        }
    }

    /// <summary>
    /// Loss and metrics of the pairs under the current adapter; with <paramref name="backward"/> the loss gradient
    /// (mean over pairs) is accumulated into the model's gradients (zero them first).
    /// </summary>
    public DpoMetrics Evaluate(IReadOnlyList<DpoPair> pairs, IReadOnlyList<DpoReference> references, bool backward, ulong dropoutSeed = 0)
    {
        if (pairs.Count == 0 || pairs.Count != references.Count)
            throw new ArgumentException($"{pairs.Count} pairs and {references.Count} reference log-probabilities");
        double loss = 0, margin = 0, correct = 0, chosenReward = 0, rejectedReward = 0;
        for (int i = 0; i < pairs.Count; i++)
        {
            var p = pairs[i];
            ulong seedC = dropoutSeed + (ulong)(2 * i) * 0x9E3779B97F4A7C15UL, seedR = dropoutSeed + (ulong)(2 * i + 1) * 0x9E3779B97F4A7C15UL;
            double rc = Beta * (LogProb(p.ChosenIds, p.ChosenLabels, false, 0f, seedC) - references[i].Chosen);
            double rr = Beta * (LogProb(p.RejectedIds, p.RejectedLabels, false, 0f, seedR) - references[i].Rejected);
            double z = rc - rr;
            loss += LogOnePlusExp(-z);
            margin += z;
            chosenReward += rc;
            rejectedReward += rr;
            if (rc > rr) correct++;
            if (backward)
            {
                // d loss/d logπ(c) = -β σ(-z); the engine's loss is CE = -logπ, so its gradient scale is +β σ(-z) / P
                float w = (float)(Beta * Sigmoid(-z) / pairs.Count);
                LogProb(p.ChosenIds, p.ChosenLabels, true, w, seedC);
                LogProb(p.RejectedIds, p.RejectedLabels, true, -w, seedR);
            }
        }
        int n = pairs.Count;
        return new DpoMetrics(loss / n, margin / n, correct / n, chosenReward / n, rejectedReward / n, n);
    }

    /// <summary>One optimizer step on a batch of pairs: gradients of the mean DPO loss, clipping, AdamW (at the scheduled rate when given).</summary>
    public DpoMetrics Step(TrainingStep optimizer, IReadOnlyList<DpoPair> pairs, IReadOnlyList<DpoReference> references, ulong dropoutSeed = 0,
        float? learningRate = null)
    {
        Model.ZeroGradients();
        var m = Evaluate(pairs, references, backward: true, dropoutSeed);
        return m with { GradNorm = optimizer.ApplyGradients(learningRate) };
    }

    private static double Sigmoid(double x) => x >= 0 ? 1 / (1 + Math.Exp(-x)) : Math.Exp(x) / (1 + Math.Exp(x));

    // log(1 + e^x) without overflow: -log σ(z) = LogOnePlusExp(-z)
    private static double LogOnePlusExp(double x) => x > 0 ? x + Math.Log(1 + Math.Exp(-x)) : Math.Log(1 + Math.Exp(x));
}
