using System.Text.Json;
using FineTuneLab.TestSupport;
using FineTuneLab.Trainer.Backends.Cpu;
using FineTuneLab.Trainer.Data;
using FineTuneLab.Trainer.Inference;
using FineTuneLab.Trainer.Tokenizers;

namespace FineTuneLab.Trainer.Tests.Inference;

public sealed class ComparisonTests
{
    [Fact]
    public async Task Compare_scores_the_reference_turn_and_writes_pairs_and_report()
    {
        using var tmp = new TempDir();
        var tokenizerDir = Path.Combine(RepoPaths.Root, "samples", "models", "tiny");
        var tokenizer = HfTokenizer.Load(tokenizerDir);
        var modelDir = RandomModels.CreateModel(tmp.Path, "llama", seed: 21, vocab: tokenizer.VocabSize);
        foreach (var f in Directory.GetFiles(tokenizerDir, "tokenizer*")) File.Copy(f, Path.Combine(modelDir, Path.GetFileName(f)));
        var adapterDir = RandomModels.CreateAdapter(tmp.Path, modelDir, 22, ["q_proj", "v_proj", "down_proj"]);
        var test = Path.Combine(tmp.Path, "test.jsonl");
        File.WriteAllLines(test, File.ReadLines(Path.Combine(RepoPaths.Root, "samples", "data", "test.jsonl")).Take(3));

        using var backend = new CpuBackend(2);
        var report = await ModelComparison.RunAsync(modelDir, adapterDir, test, maxNewTokens: 6, backend);
        Assert.Equal(3, report.Examples.Count);
        Assert.NotEqual(report.Base.Loss, report.FineTuned.Loss);
        Assert.Equal(report.Base.Tokens, report.FineTuned.Tokens);

        // the base loss, recomputed from full-forward logits with a log-softmax at every reference token
        var template = ChatTemplateResolver.Resolve(modelDir, tokenizer);
        var encoder = new ExampleEncoder(tokenizer, template, new EncodingOptions { MaxSeqLen = 4096, AssistantLoss = AssistantLoss.LastTurn });
        using var model = InferenceModel.Load(modelDir, null, backend, 512);
        double sum = 0;
        long count = 0, hits = 0;
        using var data = await TrainingDataset.OpenAsync(test);
        for (int i = 0; i < data.Count; i++)
        {
            var chat = (ChatRecord)data.Read(i);
            Assert.Equal(chat.Messages.Last(m => m.Role == "assistant").Content, report.Examples[i].Reference);
            var e = encoder.EncodeFull(chat);
            var logits = RandomModels.FullForwardLogits(model, e.InputIds);
            int v = model.Config.VocabSize;
            for (int t = 0; t + 1 < e.Length; t++)
            {
                int target = e.Labels[t + 1];
                if (target < 0) continue;
                var row = logits.AsSpan(t * v, v);
                double max = double.NegativeInfinity;
                foreach (var x in row) max = Math.Max(max, x);
                double z = 0;
                foreach (var x in row) z += Math.Exp(x - max);
                sum += max + Math.Log(z) - row[target];
                if (LogitsProcessors.ArgMax(row) == target) hits++;
                count++;
            }
        }
        Assert.Equal(count, report.Base.Tokens);
        Assert.Equal(sum / count, report.Base.Loss, 1e-4);
        Assert.Equal((double)hits / count, report.Base.TokenAccuracy, 1e-9);

        var outDir = Path.Combine(tmp.Path, "cmp");
        ComparisonWriter.Write(report, outDir);
        var lines = File.ReadAllLines(Path.Combine(outDir, "pairs.jsonl"));
        Assert.Equal(3, lines.Length);
        var first = JsonDocument.Parse(lines[0]).RootElement;
        Assert.Equal(report.Examples[0].FineTuned, first.GetProperty("fine_tuned").GetString());
        var md = File.ReadAllText(Path.Combine(outDir, "report.md"));
        Assert.Contains("| fine-tuned |", md);
    }
}
