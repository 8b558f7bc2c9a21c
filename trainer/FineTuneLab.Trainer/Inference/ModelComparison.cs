using FineTuneLab.Trainer.Backends;
using FineTuneLab.Trainer.Data;
using FineTuneLab.Trainer.Models;
using FineTuneLab.Trainer.Tensors;
using FineTuneLab.Trainer.Tokenizers;
using FineTuneLab.Trainer.Tokenizers.Jinja;

namespace FineTuneLab.Trainer.Inference;

/// <summary>One held-out example: what both models wrote for its prompt, next to the reference.</summary>
public sealed record ComparedExample(long Line, string Prompt, string Reference, string Base, string FineTuned);

/// <summary>Teacher-forced scores of one model on the references: mean loss per reference token and next-token accuracy.</summary>
public sealed record ReferenceScores(double Loss, double TokenAccuracy, long Tokens)
{
    public double Perplexity => Math.Exp(Loss);
}

public sealed record ComparisonReport(IReadOnlyList<ComparedExample> Examples, ReferenceScores Base, ReferenceScores FineTuned);

/// <summary>
/// "Analyze the fine-tuned model": runs the base model and base + adapter over a held-out JSONL set. For every example
/// the prompt is everything before the last assistant turn (or the prompt of a prompt/completion pair) and the
/// reference is that turn; each model generates greedily from the prompt and is scored teacher-forced on the reference.
/// </summary>
public static class ModelComparison
{
    public static async Task<ComparisonReport> RunAsync(string modelDir, string adapterDir, string testPath, int maxNewTokens,
        IBackend backend, Action<string>? progress = null, CancellationToken ct = default)
    {
        var tokenizer = HfTokenizer.Load(modelDir);
        var template = ChatTemplateResolver.Resolve(modelDir, tokenizer);
        var encoder = new ExampleEncoder(tokenizer, template, new EncodingOptions { MaxSeqLen = int.MaxValue, AssistantLoss = AssistantLoss.LastTurn });
        var stopIds = PromptBuilder.StopTokenIds(modelDir, tokenizer);
        var items = new List<(long Line, string PromptText, int[] PromptIds, string Reference, EncodedExample Full)>();
        using (var data = await TrainingDataset.OpenAsync(testPath, DatasetFormat.Auto, null, ct))
        {
            for (int i = 0; i < data.Count; i++)
            {
                var record = data.Read(i);
                switch (record)
                {
                    case ChatRecord c:
                        int last = LastAssistant(c.Messages);
                        if (last < 0) throw new InvalidDataException($"{testPath}: line {c.LineNumber} has no assistant turn to compare against");
                        var context = c.Messages.Take(last).ToList();
                        var scored = new ChatRecord(c.LineNumber, c.Messages.Take(last + 1).ToList());
                        items.Add((c.LineNumber, context.LastOrDefault(m => m.Role == ChatRoles.User)?.Content ?? "",
                            tokenizer.Encode(template.Render(context, addGenerationPrompt: true), addSpecialTokens: false),
                            c.Messages[last].Content, encoder.EncodeFull(scored)));
                        break;
                    case PromptCompletionRecord p:
                        items.Add((p.LineNumber, p.Prompt, PromptBuilder.Raw(tokenizer, p.Prompt), p.Completion, encoder.EncodeFull(p)));
                        break;
                    default:
                        throw new InvalidDataException($"{testPath}: line {record.LineNumber} is a {record.GetType().Name}; compare takes chat or prompt/completion examples");
                }
            }
        }
        if (items.Count == 0) throw new InvalidDataException($"{testPath}: no examples");
        int maxLength = items.Max(x => Math.Max(x.Full.Length, x.PromptIds.Length + Math.Max(1, maxNewTokens)));

        var outputs = new string[2][];
        var scores = new ReferenceScores[2];
        for (int m = 0; m < 2; m++)
        {
            using var model = InferenceModel.Load(modelDir, m == 0 ? null : adapterDir, backend, maxLength);
            using var decoder = new CachedDecoder(model, maxLength);
            var generator = new TextGenerator(decoder, tokenizer);
            var options = new GenerationOptions { MaxNewTokens = maxNewTokens, Sampling = SamplingOptions.GreedyDecoding, StopTokenIds = stopIds };
            outputs[m] = new string[items.Count];
            double lossSum = 0;
            long tokens = 0, correct = 0;
            for (int i = 0; i < items.Count; i++)
            {
                ct.ThrowIfCancellationRequested();
                progress?.Invoke($"{(m == 0 ? "base" : "fine-tuned")} {i + 1}/{items.Count}");
                outputs[m][i] = generator.Generate(items[i].PromptIds, options, cancellationToken: ct).Text;
                var (loss, n, hits) = Score(model, items[i].Full);
                lossSum += loss;
                tokens += n;
                correct += hits;
            }
            scores[m] = new ReferenceScores(tokens > 0 ? lossSum / tokens : double.NaN, tokens > 0 ? (double)correct / tokens : double.NaN, tokens);
        }
        var examples = items.Select((x, i) => new ComparedExample(x.Line, x.PromptText, x.Reference, outputs[0][i], outputs[1][i])).ToList();
        return new ComparisonReport(examples, scores[0], scores[1]);
    }

    private static int LastAssistant(IReadOnlyList<ChatMessage> messages)
    {
        for (int i = messages.Count - 1; i >= 0; i--)
            if (messages[i].Role == ChatRoles.Assistant) return i;
        return -1;
    }

    /// <summary>Summed loss over the reference tokens, their count, and how many the model's argmax predicts.</summary>
    private static (double LossSum, int Tokens, int Correct) Score(TransformerModel model, EncodedExample e)
    {
        int t = e.Length, v = model.Config.VocabSize;
        model.SetBatch(e.InputIds, e.Labels, 1, t);
        var ce = model.Run(backward: false, gradScale: 1f);
        if (ce.ValidTokens == 0) return (0, 0, 0);
        var logits = new float[(long)t * v];
        using (var buffer = new NativeBuffer((long)t * v * sizeof(float)))
        {
            var tensor = buffer.AsTensor(DType.F32, new TensorShape(t, v));
            if (model.Backend.Location == MemoryLocation.Host) model.ComputeLogits(tensor);
            else
            {
                using var device = new Arena("scoring logits", model.Backend.AllocateMemory(tensor.Bytes), ownsBlock: true);
                var onDevice = device.Allocate(DType.F32, t, v);
                model.ComputeLogits(onDevice);
                model.Backend.Download(onDevice, tensor);
            }
            tensor.AsFloat().CopyTo(logits);
        }
        int correct = 0;
        for (int i = 0; i + 1 < t; i++)
        {
            int target = e.Labels[i + 1];
            if (target == EncodedExample.IgnoreIndex) continue;
            if (LogitsProcessors.ArgMax(logits.AsSpan(i * v, v)) == target) correct++;
        }
        return (ce.LossSum, ce.ValidTokens, correct);
    }
}
