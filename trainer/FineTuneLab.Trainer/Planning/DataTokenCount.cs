using FineTuneLab.Trainer.Data;
using FineTuneLab.Trainer.Jobs;
using FineTuneLab.Trainer.Tokenizers;

namespace FineTuneLab.Trainer.Planning;

/// <summary>How much a training file is, in the model's tokens, after encoding and truncation as training does.</summary>
public sealed record DataTokenCount(int Examples, int Dropped, long Tokens, long TrainableTokens, int LongestExample)
{
    public static async Task<DataTokenCount> CountAsync(JobSpec spec, string trainPath, string tokenizerDir, CancellationToken ct = default)
    {
        var tokenizer = HfTokenizer.Load(tokenizerDir);
        var template = ChatTemplateResolver.Resolve(tokenizerDir, tokenizer);
        var format = spec.Data.Format switch
        {
            Jobs.DataFormat.Chat => DatasetFormat.Chat,
            Jobs.DataFormat.PromptCompletion => DatasetFormat.PromptCompletion,
            Jobs.DataFormat.Preference => DatasetFormat.Preference,
            _ => DatasetFormat.Auto,
        };
        var mapping = spec.Data.ColumnMapping.Count == 0 ? null
            : new ColumnMapping(spec.Data.ColumnMapping.Select(kv => (kv.Key, kv.Value)).ToList());
        var encoder = new ExampleEncoder(tokenizer, template, new EncodingOptions
        {
            MaxSeqLen = spec.MaxSeqLen,
            AssistantLoss = spec.Data.TrainOn == TrainOn.LastAssistantTurn ? AssistantLoss.LastTurn : AssistantLoss.AllTurns,
        });
        using var data = await TrainingDataset.OpenAsync(trainPath, format, mapping, ct);
        int examples = 0, dropped = 0, longest = 0;
        long tokens = 0, trainable = 0;
        for (int i = 0; i < data.Count; i++)
        {
            ct.ThrowIfCancellationRequested();
            var record = data.Read(i);
            var encoded = record is PreferenceRecord p
                ? encoder.EncodePreference(p) is { } pair ? new[] { pair.Chosen, pair.Rejected } : null
                : encoder.Encode(record) is { } e ? new[] { e } : null;
            if (encoded is null) { dropped++; continue; }
            examples++;
            foreach (var x in encoded)
            {
                tokens += x.Length;
                trainable += x.TrainableTokens;
                longest = Math.Max(longest, x.Length);
            }
        }
        return new DataTokenCount(examples, dropped, tokens, trainable, longest);
    }
}
