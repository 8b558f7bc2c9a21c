namespace FineTuneLab.Trainer.Data;

/// <summary>
/// Several examples in one fixed-length sequence. Attention must not cross examples: <see cref="SegmentIds"/> numbers
/// the examples 1, 2, ... (0 = padding) so the attention masks token pairs of different segments, and
/// <see cref="PositionIds"/> restart at 0 for each example so RoPE sees every example as if it were alone.
/// </summary>
public sealed record PackedSequence(int[] InputIds, int[] Labels, int[] PositionIds, int[] SegmentIds, IReadOnlyList<long> SourceLines)
{
    public int ExampleCount => SourceLines.Count;
    public int UsedTokens => SegmentIds.Count(s => s != 0);
}

/// <summary>
/// Packs short examples into sequences of exactly <c>seqLen</c> tokens, streaming: each example goes into the
/// first of a few open sequences where it fits (first-fit over <c>openBins</c> bins, which fills better than
/// strictly in order while keeping the shuffled order nearly intact); the fullest bin is emitted when none has room.
/// The first token of every example gets no loss: with the shifted loss it would be predicted from the previous
/// example's last token.
/// </summary>
public sealed class SequencePacker(int seqLen, int padId, int openBins = 8)
{
    private sealed class Bin
    {
        public readonly List<EncodedExample> Examples = [];
        public int Used;
    }

    public IEnumerable<PackedSequence> Pack(IEnumerable<EncodedExample> examples)
    {
        if (seqLen <= 0 || openBins <= 0) throw new ArgumentOutOfRangeException(nameof(seqLen));
        var bins = new List<Bin>();
        foreach (var e in examples)
        {
            if (e.Length > seqLen)
                throw new ArgumentException($"line {e.LineNumber}: example of {e.Length} tokens does not fit sequences of {seqLen}; fit it first");
            if (e.Length == 0) continue;
            var bin = bins.FirstOrDefault(b => b.Used + e.Length <= seqLen);
            if (bin is null)
            {
                if (bins.Count == openBins)
                {
                    var fullest = bins.MaxBy(b => b.Used)!;
                    bins.Remove(fullest);
                    yield return Emit(fullest);
                }
                bin = new Bin();
                bins.Add(bin);
            }
            bin.Examples.Add(e);
            bin.Used += e.Length;
            if (bin.Used == seqLen)
            {
                bins.Remove(bin);
                yield return Emit(bin);
            }
        }
        foreach (var bin in bins) yield return Emit(bin);
    }

    private PackedSequence Emit(Bin bin)
    {
        var ids = new int[seqLen];
        var labels = new int[seqLen];
        var positions = new int[seqLen];
        var segments = new int[seqLen];
        Array.Fill(ids, padId);
        Array.Fill(labels, EncodedExample.IgnoreIndex);
        var at = 0;
        var segment = 0;
        foreach (var e in bin.Examples)
        {
            segment++;
            e.InputIds.CopyTo(ids, at);
            e.Labels.CopyTo(labels, at);
            labels[at] = EncodedExample.IgnoreIndex;
            for (var i = 0; i < e.Length; i++)
            {
                positions[at + i] = i;
                segments[at + i] = segment;
            }
            at += e.Length;
        }
        return new PackedSequence(ids, labels, positions, segments, bin.Examples.Select(e => e.LineNumber).ToList());
    }
}
