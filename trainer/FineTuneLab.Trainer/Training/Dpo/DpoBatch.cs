using FineTuneLab.Trainer.Backends;

namespace FineTuneLab.Trainer.Training.Dpo;

/// <summary>
/// Preference pairs staged as one right-padded batch of 2·b rows: the b chosen answers, then the b rejected ones, each
/// padded to the longest row with token <see cref="PadId"/> and label -100. A row's labels are its response mask
/// (-100 on the prompt and the padding). Padding on the right under causal attention leaves every real token's logits
/// as they are when the sequence runs alone, so a pair's log-probabilities do not depend on its batch-mates.
/// The buffers are sized once for the largest batch and reused.
/// </summary>
public sealed class DpoBatch(int maxPairs, int maxSeq)
{
    /// <summary>Any id in the vocabulary serves: padding sits after every real token and carries no label.</summary>
    public const int PadId = 0;

    private readonly int[] _ids = new int[2 * maxPairs * maxSeq];
    private readonly int[] _labels = new int[2 * maxPairs * maxSeq];

    public int MaxPairs { get; } = maxPairs;
    public int Pairs { get; private set; }
    public int Rows => 2 * Pairs;
    public int Seq { get; private set; }
    public ReadOnlySpan<int> InputIds => _ids.AsSpan(0, Rows * Seq);
    public ReadOnlySpan<int> Labels => _labels.AsSpan(0, Rows * Seq);

    /// <summary>Row of pair <paramref name="pair"/>'s chosen answer (its rejected answer is row <c>Pairs + pair</c>).</summary>
    public int ChosenRow(int pair) => pair;
    public int RejectedRow(int pair) => Pairs + pair;

    /// <summary>Stages pairs [<paramref name="start"/>, +<paramref name="count"/>) of <paramref name="pairs"/>.</summary>
    public void Stage(IReadOnlyList<DpoPair> pairs, int start, int count)
    {
        if (count <= 0 || count > MaxPairs) throw new ArgumentOutOfRangeException(nameof(count), $"{count} pairs in a batch of at most {MaxPairs}");
        int seq = 0;
        for (int i = start; i < start + count; i++)
            seq = Math.Max(seq, Math.Max(pairs[i].ChosenIds.Length, pairs[i].RejectedIds.Length));
        if (seq * 2 * count > _ids.Length) throw new ArgumentException($"a pair of {seq} tokens is longer than the batch's {_ids.Length / (2 * MaxPairs)}");
        Pairs = count;
        Seq = seq;
        for (int i = 0; i < count; i++)
        {
            var p = pairs[start + i];
            Row(ChosenRow(i), p.ChosenIds, p.ChosenLabels);
            Row(RejectedRow(i), p.RejectedIds, p.RejectedLabels);
        }
    }

    private void Row(int row, int[] ids, int[] labels)
    {
        var dIds = _ids.AsSpan(row * Seq, Seq);
        var dLabels = _labels.AsSpan(row * Seq, Seq);
        ids.CopyTo(dIds);
        labels.CopyTo(dLabels);
        dIds[ids.Length..].Fill(PadId);
        dLabels[labels.Length..].Fill(CrossEntropyResult.IgnoreIndex);
    }
}
