using FineTuneLab.Trainer.Data;

namespace FineTuneLab.Trainer.Tests.Data;

public class PackingShuffleSplitTests
{
    private static EncodedExample Example(long line, int length, int firstTrainable)
    {
        var ids = Enumerable.Range(0, length).Select(i => (int)(line * 100 + i)).ToArray();
        var labels = ids.Select((id, i) => i >= firstTrainable ? id : EncodedExample.IgnoreIndex).ToArray();
        return new EncodedExample(line, ids, labels);
    }

    [Fact]
    public void Packing_keeps_examples_whole_and_restarts_positions_per_segment()
    {
        var examples = new[] { Example(1, 5, 0), Example(2, 3, 1), Example(3, 7, 2), Example(4, 2, 0), Example(5, 8, 3) };
        var packed = new SequencePacker(seqLen: 10, padId: -1, openBins: 2).Pack(examples).ToList();

        Assert.All(packed, p => Assert.Equal(10, p.InputIds.Length));
        Assert.Equal(examples.Select(e => e.LineNumber).Order(), packed.SelectMany(p => p.SourceLines).Order());
        foreach (var p in packed)
        {
            var at = 0;
            for (var s = 0; s < p.ExampleCount; s++)
            {
                var e = examples.Single(x => x.LineNumber == p.SourceLines[s]);
                for (var i = 0; i < e.Length; i++)
                {
                    Assert.Equal(e.InputIds[i], p.InputIds[at + i]);
                    Assert.Equal(i, p.PositionIds[at + i]);
                    Assert.Equal(s + 1, p.SegmentIds[at + i]);
                    // The first token of each example never takes loss (it would be predicted across the boundary).
                    Assert.Equal(i == 0 ? EncodedExample.IgnoreIndex : e.Labels[i], p.Labels[at + i]);
                }
                at += e.Length;
            }
            for (; at < 10; at++)
            {
                Assert.Equal(0, p.SegmentIds[at]);
                Assert.Equal(-1, p.InputIds[at]);
                Assert.Equal(EncodedExample.IgnoreIndex, p.Labels[at]);
            }
        }
        Assert.Equal(examples.Sum(e => e.Length), packed.Sum(p => p.UsedTokens));
        Assert.Throws<ArgumentException>(() => new SequencePacker(4, 0).Pack([Example(9, 5, 0)]).ToList());
    }

    [Fact]
    public void Shuffling_is_a_deterministic_permutation_per_seed()
    {
        var a = DeterministicShuffle.Permutation(1000, 42);
        Assert.Equal(a, DeterministicShuffle.Permutation(1000, 42));
        Assert.Equal(Enumerable.Range(0, 1000), a.Order());
        Assert.NotEqual(a, DeterministicShuffle.Permutation(1000, 43));
        Assert.NotEqual(DeterministicShuffle.EpochSeed(42, 0), DeterministicShuffle.EpochSeed(42, 1));

        // Roughly uniform: where item 0 lands over many seeds covers all ten slots about equally.
        var counts = new int[10];
        for (ulong seed = 0; seed < 5000; seed++) counts[Array.IndexOf(DeterministicShuffle.Permutation(10, seed), 0)]++;
        Assert.All(counts, c => Assert.InRange(c, 400, 600));
    }

    [Fact]
    public void Split_by_fraction_is_disjoint_complete_and_seeded()
    {
        var split = DatasetSplit.ByFraction(101, 0.1, seed: 7);
        Assert.Equal(10, split.Validation.Length);
        Assert.Equal(91, split.Train.Length);
        Assert.Empty(split.Train.Intersect(split.Validation));
        Assert.Equal(Enumerable.Range(0, 101), split.Train.Concat(split.Validation).Order());
        Assert.Equal(split, DatasetSplit.ByFraction(101, 0.1, seed: 7) is var again && again.Train.SequenceEqual(split.Train) && again.Validation.SequenceEqual(split.Validation) ? split : again);
        Assert.NotEqual(split.Validation, DatasetSplit.ByFraction(101, 0.1, seed: 8).Validation);
        Assert.Single(DatasetSplit.ByFraction(5, 0.01, seed: 1).Validation);
        Assert.Throws<ArgumentOutOfRangeException>(() => DatasetSplit.ByFraction(5, 1.0, 1));
    }

    [Fact]
    public async Task Training_dataset_streams_lines_by_offset_in_seeded_epoch_order()
    {
        using var file = DataTestSupport.WriteLines(
            """{"prompt": "one", "completion": " 1"}""",
            "",
            """{"prompt": "two", "completion": " 2"}""",
            """{"prompt": "three", "completion": " 3"}""",
            """{"prompt": "four", "completion": " 4"}""");
        using var data = await TrainingDataset.OpenAsync(file.Path);
        Assert.Equal(4, data.Count);
        var all = Enumerable.Range(0, data.Count).ToArray();
        var inOrder = data.Epoch(all, 1, 0, shuffle: false).Cast<PromptCompletionRecord>().ToList();
        Assert.Equal(["one", "two", "three", "four"], inOrder.Select(r => r.Prompt));
        Assert.Equal([1L, 3, 4, 5], inOrder.Select(r => r.LineNumber));
        var epoch0 = data.Epoch(all, 9, 0).Select(r => r.LineNumber).ToList();
        Assert.Equal(epoch0, data.Epoch(all, 9, 0).Select(r => r.LineNumber));
        Assert.Equal([1L, 3, 4, 5], epoch0.Order());
        var orders = Enumerable.Range(0, 6).Select(ep => string.Join(",", data.Epoch(all, 9, ep).Select(r => r.LineNumber))).Distinct().Count();
        Assert.True(orders > 1);

        var encoder = new ExampleEncoder(WordLevelTestTokenizer.Default(), DataTestSupport.ChatMl(), new EncodingOptions());
        var split = DatasetSplit.ByFraction(data.Count, 0.25, 3);
        var validation = data.EncodedEpoch(encoder, split.Validation, 3, 0, shuffle: false).ToList();
        Assert.Single(validation);
        Assert.Equal(3, data.EncodedEpoch(encoder, split.Train, 3, 0).Count());
    }

    [Fact]
    public async Task Reader_handles_crlf_bom_and_a_missing_final_newline_with_exact_offsets()
    {
        var path = Path.Combine(Path.GetTempPath(), $"ftl-crlf-{Guid.NewGuid():N}.jsonl");
        try
        {
            byte[] content = [0xEF, 0xBB, 0xBF, .. "{\"a\": 1}\r\n\r\n{\"b\": \"é\"}\n{\"c\": 3}"u8];
            await File.WriteAllBytesAsync(path, content);
            var lines = new List<JsonlLine>();
            await foreach (var l in JsonlReader.ReadLinesAsync(path)) lines.Add(l);
            Assert.Equal(["{\"a\": 1}", "", "{\"b\": \"é\"}", "{\"c\": 3}"], lines.Select(l => System.Text.Encoding.UTF8.GetString(l.Bytes.Span)));
            Assert.Equal([1L, 2, 3, 4], lines.Select(l => l.LineNumber));
            Assert.Equal([3L, 13, 15, 27], lines.Select(l => l.ByteOffset));
            using var index = await JsonlIndex.BuildAsync(path);
            Assert.Equal(3, index.Count);
            Assert.Equal("{\"c\": 3}", System.Text.Encoding.UTF8.GetString(index.Read(2).Bytes.Span));
            Assert.Equal(4, index.Read(2).LineNumber);
        }
        finally
        {
            File.Delete(path);
        }
    }
}
