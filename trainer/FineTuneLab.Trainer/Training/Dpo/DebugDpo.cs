using FineTuneLab.Trainer.Backends;
using FineTuneLab.Trainer.Formats;
using FineTuneLab.Trainer.Models;
using FineTuneLab.Trainer.Tensors;

namespace FineTuneLab.Trainer.Training.Dpo;

/// <summary>
/// One DPO loss + backward on given pairs, for checking against a reference: the mean loss, the metrics and every
/// LoRA gradient under its PEFT key (what <c>ftl-train debug-dpo</c> writes), as a training step computes them; and
/// the metrics as an evaluation computes them (forward only, <c>batchPairs</c> pairs per right-padded batch).
/// </summary>
public static class DebugDpo
{
    public sealed record Result(DpoMetrics Metrics, DpoMetrics Evaluation, IReadOnlyDictionary<string, (float[] Values, long[] Shape)> Gradients);

    public static Result Run(IBackend backend, string modelDir, IReadOnlyList<DpoPair> pairs, LoraOptions lora, float beta,
        string? loraInit = null, DType? weightDType = null, bool qlora = false, ulong seed = 0, int batchPairs = 1)
    {
        if (batchPairs < 1) throw new ArgumentException($"pairs per batch must be at least 1, got {batchPairs}");
        int maxSeq = pairs.Max(p => Math.Max(p.ChosenIds.Length, p.RejectedIds.Length));
        var options = new EngineOptions { Lora = lora, WeightDType = weightDType, QuantizeBase = qlora, MaxBatch = 2 * batchPairs, MaxSeq = maxSeq, Seed = seed };
        using var model = TransformerModel.FromFolder(modelDir, backend, options);
        if (loraInit is null) model.InitLora(seed);
        else
        {
            using var init = SafeTensorStore.Open(loraInit);
            model.LoadLora(init);
        }
        using var dpo = new DpoStep(model, beta, batchPairs);
        var evaluation = dpo.Evaluate(pairs, dpo.EvaluationReferences(pairs));
        var metrics = dpo.Gradients(pairs, dpo.TrainingReferences(pairs));
        var grads = new Dictionary<string, (float[], long[])>(StringComparer.Ordinal);
        foreach (var ad in model.Adapters)
        {
            var (a, b) = model.ReadLora(ad, gradients: true);
            grads[ad.PeftKeyA] = (a, ad.PeftShapeA);
            grads[ad.PeftKeyB] = (b, ad.PeftShapeB);
        }
        return new Result(metrics, evaluation, grads);
    }

    /// <summary>Writes loss, reward_margin, accuracy, chosen_reward, rejected_reward ([1] each) and the gradients (PEFT keys).</summary>
    public static void Save(Result r, string path)
    {
        var m = r.Metrics;
        var items = new List<SafeTensorWriteItem>
        {
            SafeTensorWriteItem.Float32("loss", [(float)m.Loss], 1),
            SafeTensorWriteItem.Float32("reward_margin", [(float)m.RewardMargin], 1),
            SafeTensorWriteItem.Float32("accuracy", [(float)m.Accuracy], 1),
            SafeTensorWriteItem.Float32("chosen_reward", [(float)m.ChosenReward], 1),
            SafeTensorWriteItem.Float32("rejected_reward", [(float)m.RejectedReward], 1),
        };
        foreach (var (key, (values, shape)) in r.Gradients) items.Add(SafeTensorWriteItem.Float32(key, values, shape));
        SafeTensorsWriter.Write(path, items, new Dictionary<string, string> { ["format"] = "pt", ["producer"] = "ftl-train debug-dpo" });
    }
}
