using FineTuneLab.Trainer.Data;
using FineTuneLab.Trainer.Tests.Data;

namespace FineTuneLab.Trainer.Tests.Dpo;

/// <summary>
/// The data check on preference pairs, each defect on its line: identical sides and empty sides are errors (the run
/// refuses them, tests/.../TrainRun/DpoRunTests); pairs that max-seq-len spoils — an answer cut away entirely, or
/// answers that differ only past the cut — are warnings, since the run skips or cannot learn from them.
/// </summary>
public sealed class PreferenceDataCheckTests
{
    private static Task<DatasetCheckReport> Check(string path, int maxSeqLen, TruncationPolicy truncation = TruncationPolicy.Right) =>
        DatasetCheck.RunAsync(path, WordLevelTestTokenizer.Default(), DataTestSupport.ChatMl(), new DatasetCheckOptions
        {
            Format = DatasetFormat.Preference,
            Encoding = new EncodingOptions { MaxSeqLen = maxSeqLen, Truncation = truncation, PromptCompletionAsChat = true },
        });

    [Fact]
    public async Task Identical_empty_and_truncation_spoilt_pairs_are_reported_on_their_lines()
    {
        using var file = DataTestSupport.WriteLines(
            """{"prompt": "say hi", "chosen": "hello there", "rejected": "go away"}""",                                      // 1: fine
            """{"prompt": "say hi", "chosen": "hello there", "rejected": "  hello there "}""",                             // 2: identical
            """{"prompt": "say hi", "chosen": "hello", "rejected": "   "}""",                                               // 3: empty rejected
            """{"prompt": "say hi", "chosen": "", "rejected": "hello"}""",                                                  // 4: empty chosen
            """{"prompt": "the cat and the dog and the bird and the fish in the rain today", "chosen": "a", "rejected": "b"}""", // 5: answers cut away
            """{"prompt": "say hi", "chosen": "the cat and the dog and the bird is red", "rejected": "the cat and the dog and the bird is blue"}"""); // 6: differ past the cut
        var report = await Check(file.Path, maxSeqLen: 14);

        Assert.Equal(DatasetFormat.Preference, report.Format);
        var byLine = report.Problems.ToLookup(p => p.Line);
        Assert.DoesNotContain(byLine[1], p => p.Kind != ProblemKind.TooLong);
        var identical = Assert.Single(byLine[2]);
        Assert.Equal((ProblemSeverity.Error, ProblemKind.IdenticalChosenRejected), (identical.Severity, identical.Kind));
        Assert.StartsWith("line 2: error:", identical.ToString());
        Assert.Contains(byLine[3], p => p is { Severity: ProblemSeverity.Error, Kind: ProblemKind.EmptyPreferenceSide, Field: "rejected" });
        Assert.Contains(byLine[4], p => p is { Severity: ProblemSeverity.Error, Kind: ProblemKind.EmptyPreferenceSide, Field: "chosen" });
        Assert.Contains(byLine[5], p => p is { Severity: ProblemSeverity.Warning, Kind: ProblemKind.PreferenceLostInTruncation }
            && p.Message.Contains("no token left"));
        Assert.Contains(byLine[6], p => p is { Severity: ProblemSeverity.Warning, Kind: ProblemKind.PreferenceLostInTruncation }
            && p.Message.Contains("differ only past max-seq-len 14"));
        Assert.Equal(3, report.ErrorCount);

        // with room for the whole pair the same lines 5 and 6 are fine
        var roomy = await Check(file.Path, maxSeqLen: 64);
        Assert.DoesNotContain(roomy.Problems, p => p.Kind == ProblemKind.PreferenceLostInTruncation);
        // a drop policy already reports the over-long pairs as dropped
        var dropping = await Check(file.Path, maxSeqLen: 14, TruncationPolicy.Drop);
        Assert.DoesNotContain(dropping.Problems, p => p.Line == 5 && p.Kind == ProblemKind.PreferenceLostInTruncation);
        Assert.Contains(dropping.Problems, p => p.Line == 5 && p.Kind == ProblemKind.TooLong);
    }
}
