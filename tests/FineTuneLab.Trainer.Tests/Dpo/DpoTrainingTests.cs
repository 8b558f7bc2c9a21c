using FineTuneLab.TestSupport;
using FineTuneLab.Trainer.Backends.Cpu;
using FineTuneLab.Trainer.Data;
using FineTuneLab.Trainer.Models;
using FineTuneLab.Trainer.Tensors;
using FineTuneLab.Trainer.Tokenizers;
using FineTuneLab.Trainer.Training;
using FineTuneLab.Trainer.Training.Dpo;
using Xunit.Abstractions;

namespace FineTuneLab.Trainer.Tests.Dpo;

/// <summary>
/// DPO on the sample preference set (samples/data/preferences.*.jsonl: polite chosen, rude rejected answers, tokenized
/// by samples/models/tiny) with a small random Llama-shaped model in QLoRA (NF4 base): DpoStep + TrainingStep for a
/// few dozen steps, evaluated in padded batches of 4 pairs. The preference accuracy must rise from the reference's 0
/// (rewards tie at the start) on the training pairs and on the held-out ones, whose remarks never appear in training
/// (they reuse the training remarks' words), and the DPO loss must fall below log 2 on both.
/// </summary>
public sealed class DpoTrainingTests(ITestOutputHelper output)
{
    private static async Task<List<DpoPair>> LoadPairs(string file, ExampleEncoder encoder)
    {
        using var ds = await TrainingDataset.OpenAsync(Path.Combine(RepoPaths.Root, "samples", "data", file), DatasetFormat.Preference);
        var pairs = new List<DpoPair>();
        for (int i = 0; i < ds.Count; i++)
            if (encoder.EncodePreference((PreferenceRecord)ds.Read(i)) is { } e)
                pairs.Add(DpoPair.FromEncoded(e.Chosen, e.Rejected));
        return pairs;
    }

    [Fact]
    public async Task Preference_accuracy_rises_on_training_and_held_out_pairs()
    {
        var tokDir = Path.Combine(RepoPaths.Root, "samples", "models", "tiny");
        var tokenizer = HfTokenizer.Load(tokDir);
        var encoder = new ExampleEncoder(tokenizer, ChatTemplateResolver.Resolve(tokDir, tokenizer),
            new EncodingOptions { MaxSeqLen = 96, PromptCompletionAsChat = true });
        var train = await LoadPairs("preferences.train.jsonl", encoder);
        var trainSample = train.Take(48).ToList(); // the training pairs' accuracy is read on a sample, to keep the test short
        var test = await LoadPairs("preferences.test.jsonl", encoder);
        Assert.True(train.Count >= 100 && test.Count >= 20, $"{train.Count} train / {test.Count} test pairs");

        using var backend = new CpuBackend(2);
        var config = Quantization.QloraEngineTests.SmallLlama(vocab: 1024);
        int maxSeq = train.Concat(test).Max(p => Math.Max(p.ChosenIds.Length, p.RejectedIds.Length));
        var options = new EngineOptions { Lora = new LoraOptions(8, 16, LoraOptions.LlamaAllLinear), QuantizeBase = true, MaxBatch = 8, MaxSeq = maxSeq, Seed = 1 };
        using var model = new TransformerModel(config, backend, options, DType.BF16);
        model.InitRandomWeights(2);
        model.InitLora(3);
        using var dpo = new DpoStep(model, beta: 0.1f, batchPairs: 4);
        var stepRefs = dpo.TrainingReferences(train);
        var trainRefs = dpo.EvaluationReferences(trainSample);
        var testRefs = dpo.EvaluationReferences(test);
        var before = dpo.Evaluate(test, testRefs);
        var trainBefore = dpo.Evaluate(trainSample, trainRefs);

        using var optimizer = new TrainingStep(model, new OptimizerSettings(1e-3f, WeightDecay: 0f, MaxGradNorm: 1f));
        const int steps = 30, batch = 4;
        var order = DeterministicShuffle.Permutation(train.Count, 11);
        for (int s = 0; s < steps; s++)
        {
            var idx = Enumerable.Range(0, batch).Select(i => order[(s * batch + i) % train.Count]).ToList();
            var m = dpo.Step(optimizer, idx.Select(i => train[i]).ToList(), idx.Select(i => stepRefs[i]).ToList());
            if (s == 0) Assert.Equal(Math.Log(2), m.Loss, 9);
            if (s % 10 == 0) output.WriteLine($"step {s}: loss {m.Loss:F4} acc {m.Accuracy:F2} margin {m.RewardMargin:F4}");
        }
        var after = dpo.Evaluate(test, testRefs);
        var trainAfter = dpo.Evaluate(trainSample, trainRefs);
        output.WriteLine($"training pairs ({trainSample.Count} of {train.Count}): accuracy {trainBefore.Accuracy:F3} -> {trainAfter.Accuracy:F3}, loss {trainBefore.Loss:F4} -> {trainAfter.Loss:F4}");
        output.WriteLine($"held-out ({test.Count} pairs): accuracy {before.Accuracy:F3} -> {after.Accuracy:F3}, loss {before.Loss:F4} -> {after.Loss:F4}, " +
            $"margin {before.RewardMargin:F4} -> {after.RewardMargin:F4}");
        Assert.Equal(0, before.Accuracy);
        Assert.Equal(0, trainBefore.Accuracy);
        Assert.True(trainAfter.Accuracy >= 0.8, $"training-pair accuracy after DPO {trainAfter.Accuracy:F3}");
        Assert.True(trainAfter.Loss < Math.Log(2), $"training-pair DPO loss {trainBefore.Loss:F4} -> {trainAfter.Loss:F4}");
        Assert.True(after.Accuracy >= 0.8, $"held-out accuracy after DPO {after.Accuracy:F3}");
        Assert.True(after.Loss < Math.Log(2), $"held-out DPO loss {before.Loss:F4} -> {after.Loss:F4}");
    }
}
