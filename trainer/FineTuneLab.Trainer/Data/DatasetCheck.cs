using System.Security.Cryptography;
using System.Text;
using FineTuneLab.Trainer.Tokenizers;
using FineTuneLab.Trainer.Tokenizers.Jinja;

namespace FineTuneLab.Trainer.Data;

/// <summary>
/// Training-set QA: validates every line (reporting each problem with its line number, never stopping at the first),
/// then tokenizes the valid examples exactly as training will and reports token counts, lengths, truncation,
/// duplicates, role balance and a time/cost projection. The trainer runs the same check before it starts.
/// </summary>
public static class DatasetCheck
{
    public static async Task<DatasetCheckReport> RunAsync(string path, ITokenizer tokenizer, ChatTemplate template,
        DatasetCheckOptions options, CancellationToken ct = default)
    {
        var parser = new RecordParser(options.Format, options.Mapping);
        var encoder = new ExampleEncoder(tokenizer, template, options.Encoding);
        var maxSeqLen = options.Encoding.MaxSeqLen;
        var problems = new List<DatasetProblem>();
        var lengths = new List<int>();
        var exact = new Dictionary<UInt128, long>();
        var exactPairs = new List<DuplicatePair>();
        var nearPairs = new List<DuplicatePair>();
        var near = new NearDuplicateDetector(options.NearDuplicateThreshold);
        var roles = new SortedDictionary<string, long>(StringComparer.Ordinal);
        long lines = 0, blank = 0, totalTokens = 0, trainable = 0, tokensPerEpoch = 0, turns = 0;
        int valid = 0, overLong = 0, chats = 0, errors = 0, warnings = 0, nearChecked = 0;

        void Count(List<DatasetProblem> found)
        {
            foreach (var p in found)
            {
                if (p.Severity == ProblemSeverity.Error) errors++;
                else warnings++;
                if (problems.Count < options.MaxProblemsListed) problems.Add(p);
            }
        }

        await foreach (var line in JsonlReader.ReadLinesAsync(path, ct))
        {
            lines++;
            if (JsonlIndex.IsBlank(line.Bytes.Span))
            {
                blank++;
                continue;
            }
            var found = new List<DatasetProblem>();
            var record = parser.Parse(line, found);
            if (record is not null)
            {
                try
                {
                    var (length, total, train, fitted, fitProblem) = Measure(record, encoder);
                    if (fitProblem is not null) found.Add(fitProblem);
                    valid++;
                    lengths.Add(length);
                    totalTokens += total;
                    trainable += train;
                    tokensPerEpoch += fitted;
                    if (length > maxSeqLen)
                    {
                        overLong++;
                        var fate = options.Encoding.Truncation == TruncationPolicy.Drop ? "it would be dropped" : $"it would be truncated ({options.Encoding.Truncation.ToString().ToLowerInvariant()})";
                        found.Add(new DatasetProblem(line.LineNumber, ProblemSeverity.Warning, ProblemKind.TooLong, null,
                            $"{length} tokens, longer than max-seq-len {maxSeqLen}: {fate}"));
                    }
                    Tally(record, roles, ref turns, ref chats);
                    var canonical = CanonicalKey(record.CanonicalText);
                    if (exact.TryGetValue(canonical, out var firstLine))
                        exactPairs.Add(new DuplicatePair(firstLine, line.LineNumber, 1.0));
                    else
                    {
                        exact[canonical] = line.LineNumber;
                        if (nearChecked < options.NearDuplicateLimit)
                        {
                            nearChecked++;
                            if (near.Add(line.LineNumber, record.CanonicalText) is { } n)
                                nearPairs.Add(new DuplicatePair(n.Line, line.LineNumber, n.Similarity));
                        }
                    }
                }
                catch (Exception e) when (e is JinjaException or InvalidDataException)
                {
                    found.Add(new DatasetProblem(line.LineNumber, ProblemSeverity.Error, ProblemKind.TemplateFailed, null,
                        $"the chat template could not render this example: {e.Message}"));
                }
            }
            Count(found);
        }

        return new DatasetCheckReport
        {
            Path = path,
            Format = parser.Format,
            Lines = lines,
            BlankLines = blank,
            ValidExamples = valid,
            ErrorCount = errors,
            WarningCount = warnings,
            Problems = problems,
            TotalTokens = totalTokens,
            TrainableTokens = trainable,
            Lengths = Stats(lengths),
            MaxSeqLen = maxSeqLen,
            OverLongExamples = overLong,
            ExactDuplicates = exactPairs,
            NearDuplicates = nearPairs,
            NearDuplicatesChecked = nearChecked,
            RoleCounts = roles,
            MeanTurns = chats > 0 ? (double)turns / chats : null,
            Projection = options.TokensPerSecond is { } tps && tps > 0
                ? Project(tokensPerEpoch, Math.Max(1, options.Epochs), tps, options.PricePerHour)
                : null,
        };
    }

    /// <returns>Length before truncation (the longer side of a pair), all tokens, trainable tokens, tokens trained per epoch after
    /// fitting, and what fitting spoils in a preference pair.</returns>
    private static (int Length, long Total, long Trainable, long Fitted, DatasetProblem? FitProblem) Measure(DatasetRecord record, ExampleEncoder encoder)
    {
        if (record is PreferenceRecord p)
        {
            var chosen = encoder.EncodeFull(new PromptCompletionRecord(p.LineNumber, p.Prompt, p.Chosen));
            var rejected = encoder.EncodeFull(new PromptCompletionRecord(p.LineNumber, p.Prompt, p.Rejected));
            var fitted = encoder.EncodePreference(p);
            return (Math.Max(chosen.Length, rejected.Length), chosen.Length + rejected.Length,
                chosen.TrainableTokens + rejected.TrainableTokens, fitted is { } f ? f.Chosen.Length + f.Rejected.Length : 0,
                PreferenceFitProblem(p, fitted, encoder.Options));
        }
        var full = encoder.EncodeFull(record);
        return (full.Length, full.Length, full.TrainableTokens, encoder.Fit(full)?.Length ?? 0, null);
    }

    /// <summary>
    /// A pair that max-seq-len spoils: an answer with no token left (the run skips the pair), or answers that differ only
    /// past the cut (the same tokens on both sides: the pair teaches nothing).
    /// </summary>
    private static DatasetProblem? PreferenceFitProblem(PreferenceRecord p, (EncodedExample Chosen, EncodedExample Rejected)? pair, EncodingOptions options)
    {
        var max = options.MaxSeqLen;
        if (pair is not { } fitted)
            return options.Truncation == TruncationPolicy.Drop ? null // the too-long warning already says it is dropped
                : new DatasetProblem(p.LineNumber, ProblemSeverity.Warning, ProblemKind.PreferenceLostInTruncation, null,
                    $"an answer has no token left within max-seq-len {max}: the pair would be skipped");
        return fitted.Chosen.InputIds.AsSpan().SequenceEqual(fitted.Rejected.InputIds)
            ? new DatasetProblem(p.LineNumber, ProblemSeverity.Warning, ProblemKind.PreferenceLostInTruncation, null,
                $"'chosen' and 'rejected' differ only past max-seq-len {max}: cut there they are the same tokens and the pair teaches nothing")
            : null;
    }

    private static void Tally(DatasetRecord record, SortedDictionary<string, long> roles, ref long turns, ref int chats)
    {
        void Inc(string key) => roles[key] = roles.GetValueOrDefault(key) + 1;
        switch (record)
        {
            case ChatRecord c:
                foreach (var m in c.Messages) Inc(m.Role);
                turns += c.Messages.Count(m => m.Role != ChatRoles.System);
                chats++;
                break;
            case PromptCompletionRecord:
                Inc("prompt");
                Inc("completion");
                break;
            case PreferenceRecord:
                Inc("prompt");
                Inc("chosen");
                Inc("rejected");
                break;
        }
    }

    /// <summary>Exact duplicates compare the example's fields with whitespace runs collapsed (case and punctuation kept).</summary>
    private static UInt128 CanonicalKey(string text)
    {
        var collapsed = string.Join(' ', text.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries));
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(Encoding.UTF8.GetBytes(collapsed), hash);
        return BitConverter.ToUInt128(hash);
    }

    private static LengthStats? Stats(List<int> lengths)
    {
        if (lengths.Count == 0) return null;
        var sorted = lengths.ToArray();
        Array.Sort(sorted);
        int Percentile(double q) => sorted[Math.Clamp((int)Math.Ceiling(q * sorted.Length) - 1, 0, sorted.Length - 1)];
        return new LengthStats(sorted[0], sorted[^1], sorted.Average(), Percentile(0.50), Percentile(0.90), Percentile(0.95), Percentile(0.99));
    }

    private static TrainingProjection Project(long tokensPerEpoch, int epochs, double tokensPerSecond, double? pricePerHour)
    {
        var seconds = tokensPerEpoch * (double)epochs / tokensPerSecond;
        return new TrainingProjection(tokensPerEpoch, epochs, tokensPerSecond, seconds, pricePerHour,
            pricePerHour is { } price ? seconds / 3600.0 * price : null);
    }
}
