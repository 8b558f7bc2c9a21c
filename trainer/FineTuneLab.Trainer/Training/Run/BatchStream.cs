using FineTuneLab.Trainer.Data;

namespace FineTuneLab.Trainer.Training.Run;

/// <summary>Where the data stream stands: the epoch and how many of its rows were already trained on.</summary>
public readonly record struct DataCursor(int Epoch, long Index);

/// <summary>
/// Turns the rows of consecutive epochs into optimizer steps of <c>accumulation</c> micro-batches of
/// <c>microBatchSize</c> rows each; a step may span an epoch boundary, so every step has the same number of rows.
/// Starting from a <see cref="DataCursor"/> re-creates that epoch's order and skips the rows already trained.
/// </summary>
public sealed class BatchStream(ITrainingSequences sequences, int microBatchSize, int accumulation, int padId)
{
    public int RowsPerStep => microBatchSize * accumulation;

    /// <summary>Steps from <paramref name="start"/> on, each with the cursor after it.</summary>
    public IEnumerable<(MicroBatch[] MicroBatches, DataCursor After, long Tokens)> Steps(DataCursor start)
    {
        using var rows = Rows(start).GetEnumerator();
        while (true)
        {
            var micro = new MicroBatch[accumulation];
            var cursor = start;
            long tokens = 0;
            for (var m = 0; m < accumulation; m++)
            {
                var batch = new List<TrainingSequence>(microBatchSize);
                for (var b = 0; b < microBatchSize; b++)
                {
                    rows.MoveNext();
                    batch.Add(rows.Current.Row);
                    cursor = rows.Current.After;
                    tokens += rows.Current.Row.UsedTokens;
                }
                micro[m] = Assemble(batch);
            }
            yield return (micro, cursor, tokens);
        }
    }

    /// <summary>How many rows one epoch has (a full pass over its encoding).</summary>
    public static (long Rows, long Tokens) Measure(IEnumerable<TrainingSequence> epoch)
    {
        long rows = 0, tokens = 0;
        foreach (var r in epoch)
        {
            rows++;
            tokens += r.UsedTokens;
        }
        return (rows, tokens);
    }

    private IEnumerable<(TrainingSequence Row, DataCursor After)> Rows(DataCursor start)
    {
        for (var epoch = start.Epoch; ; epoch++)
        {
            long index = 0, skip = epoch == start.Epoch ? start.Index : 0;
            foreach (var row in sequences.Epoch(epoch))
            {
                index++;
                if (index <= skip) continue;
                yield return (row, new DataCursor(epoch, index));
            }
            if (index == 0) throw new InvalidOperationException($"epoch {epoch} has no training rows (every example was dropped)");
            if (index < skip) throw new InvalidOperationException($"the resume position (epoch {epoch}, row {skip}) is past the epoch's {index} rows: the data changed since the checkpoint");
        }
    }

    /// <summary>Stacks rows into one [B, T] micro-batch; unpacked rows are right-padded to the longest (pad id, label -100).</summary>
    public MicroBatch Assemble(IReadOnlyList<TrainingSequence> batch)
    {
        var seq = batch.Max(r => r.Length);
        var n = batch.Count * seq;
        var ids = new int[n];
        var labels = new int[n];
        var packed = batch.Any(r => r.SegmentIds is not null);
        var positions = packed ? new int[n] : null;
        var segments = packed ? new int[n] : null;
        Array.Fill(ids, padId);
        Array.Fill(labels, EncodedExample.IgnoreIndex);
        for (var b = 0; b < batch.Count; b++)
        {
            var r = batch[b];
            r.InputIds.CopyTo(ids, b * seq);
            r.Labels.CopyTo(labels, b * seq);
            if (packed)
            {
                for (var t = 0; t < seq; t++) positions![b * seq + t] = t < r.Length ? r.PositionIds?[t] ?? t : 0;
                r.SegmentIds?.CopyTo(segments!, b * seq);
                if (r.SegmentIds is null) Array.Fill(segments!, 1, b * seq, r.Length);
            }
        }
        return new MicroBatch(ids, labels, batch.Count, seq, positions, segments);
    }
}
