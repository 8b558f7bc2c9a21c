using FineTuneLab.Trainer.Data;
using FineTuneLab.Trainer.Events;
using FineTuneLab.Trainer.Jobs;
using FineTuneLab.Trainer.Tokenizers;
using FineTuneLab.Trainer.Training.Dpo;

namespace FineTuneLab.Trainer.Training.Run;

/// <summary>
/// Reading a run's data: the data check on every file (errors refuse the run, findings become log events), then the
/// supervised rows or the DPO preference pairs, as the objective of the job's method needs them.
/// </summary>
public sealed partial class TrainingRun
{
    private async Task<ITrainingSequences> OpenDataAsync(ITokenizer tokenizer, Tokenizers.Jinja.ChatTemplate template, int? eosId, int padId, CancellationToken ct)
    {
        var data = _spec.Data;
        foreach (var file in new[] { data.Train, data.Validation })
            if (file is not null && !File.Exists(file)) throw new RunRefusedException($"data file {file} does not exist");
        if (data.Format == DataFormat.Text)
        {
            try
            {
                var corpus = TextCorpus.Load(data.Train, tokenizer, eosId, _spec.MaxSeqLen);
                var validation = data.Validation is null ? null : TextCorpus.Load(data.Validation, tokenizer, eosId, _spec.MaxSeqLen);
                var split = data.ValidationFraction > 0
                    ? DatasetSplit.ByFraction(corpus.Blocks.Count, data.ValidationFraction, _spec.Seed)
                    : DatasetSplit.AllTrain(corpus.Blocks.Count);
                return new TextSequences(corpus, split, validation, _spec.Seed);
            }
            catch (Exception e) when (e is InvalidDataException or System.Text.DecoderFallbackException)
            {
                throw new RunRefusedException(e.Message, e);
            }
        }

        var format = data.Format switch
        {
            DataFormat.Chat => DatasetFormat.Chat,
            DataFormat.PromptCompletion => DatasetFormat.PromptCompletion,
            DataFormat.Preference => DatasetFormat.Preference,
            _ => DatasetFormat.Auto,
        };
        var mapping = data.ColumnMapping.Count == 0 ? null : new ColumnMapping(data.ColumnMapping.Select(kv => (kv.Key, kv.Value)).ToList());
        var encoding = new EncodingOptions
        {
            MaxSeqLen = _spec.MaxSeqLen,
            AssistantLoss = data.TrainOn == TrainOn.LastAssistantTurn ? AssistantLoss.LastTurn : AssistantLoss.AllTurns,
            Truncation = TruncationPolicy.Right,
        };
        var checkOptions = new DatasetCheckOptions { Format = format, Mapping = mapping, Encoding = encoding, MaxProblemsListed = 50 };
        foreach (var file in new[] { data.Train, data.Validation })
        {
            if (file is null) continue;
            var report = await CheckDataAsync(file, tokenizer, template, checkOptions, ct);
            if (report.Format == DatasetFormat.Preference)
                throw new RunRefusedException($"{file}: preference pairs (DPO) are not trained by the supervised trainer; give chat or prompt/completion data");
        }
        var train = await TrainingDataset.OpenAsync(data.Train, format, mapping, ct);
        var validationFile = data.Validation is null ? null : await TrainingDataset.OpenAsync(data.Validation, format, mapping, ct);
        var dataSplit = data.ValidationFraction > 0 ? DatasetSplit.ByFraction(train.Count, data.ValidationFraction, _spec.Seed) : DatasetSplit.AllTrain(train.Count);
        var encoder = new ExampleEncoder(tokenizer, template, encoding);
        return new EncodedSequences(train, dataSplit, validationFile, encoder, _spec.Seed, _spec.MaxSeqLen, _spec.Packing, padId,
            trainAllTokens: data.TrainOn == TrainOn.AllTokens);
    }

    /// <summary>Runs the data check on one file: refuses on errors, notes what it found for the event stream.</summary>
    private async Task<DatasetCheckReport> CheckDataAsync(string file, ITokenizer tokenizer, Tokenizers.Jinja.ChatTemplate template, DatasetCheckOptions checkOptions,
        CancellationToken ct)
    {
        var report = await DatasetCheck.RunAsync(file, tokenizer, template, checkOptions, ct);
        if (report.HasErrors)
            throw new RunRefusedException($"{file}: the data check found {report.ErrorCount} error(s); fix them (ftl-train data check lists them all):\n  "
                + string.Join("\n  ", report.Problems.Where(p => p.Severity == ProblemSeverity.Error).Take(20)));
        _dataNotes.Add(new LogEvent(report.WarningCount > 0 ? "warning" : "info",
            $"data check {Path.GetFileName(file)}: {report.ValidExamples} examples, {report.TotalTokens} tokens ({report.TrainableTokens} trained), "
            + $"{report.OverLongExamples} longer than {_spec.MaxSeqLen} (truncated), {report.ExactDuplicates.Count} exact duplicates, {report.WarningCount} warnings"));
        return report;
    }

    /// <summary>
    /// The training and validation pairs: every preference record encoded as two sequences sharing the prompt (as a
    /// user/assistant chat), the loss on the answer. Validation comes from data.validation or data.validation_fraction.
    /// </summary>
    private async Task<(List<DpoPair> Train, List<DpoPair> Validation)> OpenPreferencePairsAsync(ITokenizer tokenizer, Tokenizers.Jinja.ChatTemplate template,
        CancellationToken ct)
    {
        var data = _spec.Data;
        foreach (var file in new[] { data.Train, data.Validation })
            if (file is not null && !File.Exists(file)) throw new RunRefusedException($"data file {file} does not exist");
        var mapping = data.ColumnMapping.Count == 0 ? null : new ColumnMapping(data.ColumnMapping.Select(kv => (kv.Key, kv.Value)).ToList());
        var encoding = new EncodingOptions { MaxSeqLen = _spec.MaxSeqLen, Truncation = TruncationPolicy.Right, PromptCompletionAsChat = true };
        var checkOptions = new DatasetCheckOptions { Format = DatasetFormat.Preference, Mapping = mapping, Encoding = encoding, MaxProblemsListed = 50 };
        foreach (var file in new[] { data.Train, data.Validation })
            if (file is not null) await CheckDataAsync(file, tokenizer, template, checkOptions, ct);

        var encoder = new ExampleEncoder(tokenizer, template, encoding);
        List<DpoPair> Encode(TrainingDataset ds, IEnumerable<int> indices)
        {
            var pairs = new List<DpoPair>();
            foreach (var i in indices)
            {
                var record = ds.Read(i) as PreferenceRecord
                    ?? throw new RunRefusedException($"{ds.Path}: record {i + 1} is not a preference pair (prompt, chosen, rejected)");
                if (encoder.EncodePreference(record) is { } e) pairs.Add(DpoPair.FromEncoded(e.Chosen, e.Rejected));
            }
            return pairs;
        }

        using var train = await TrainingDataset.OpenAsync(data.Train, DatasetFormat.Preference, mapping, ct);
        var split = data.ValidationFraction > 0 ? DatasetSplit.ByFraction(train.Count, data.ValidationFraction, _spec.Seed) : DatasetSplit.AllTrain(train.Count);
        var trainPairs = Encode(train, split.Train);
        var valPairs = Encode(train, split.Validation);
        if (data.Validation is not null)
        {
            using var validation = await TrainingDataset.OpenAsync(data.Validation, DatasetFormat.Preference, mapping, ct);
            valPairs.AddRange(Encode(validation, Enumerable.Range(0, validation.Count)));
        }
        if (trainPairs.Count == 0) throw new RunRefusedException($"{data.Train}: no preference pair has a trainable answer within max_seq_len {_spec.MaxSeqLen}");
        return (trainPairs, valPairs);
    }
}
