using FineTuneLab.Trainer.Data;

namespace FineTuneLab.Trainer.Training.Run;

/// <summary>One training row: ids and labels (HF convention), plus position and segment ids when it is packed.</summary>
public sealed record TrainingSequence(int[] InputIds, int[] Labels, int[]? PositionIds, int[]? SegmentIds)
{
    public int Length => InputIds.Length;
    public int UsedTokens => SegmentIds?.Count(s => s != 0) ?? InputIds.Length;
}

/// <summary>
/// The rows of a run, each epoch in its own seeded order and the validation rows in file order. Both are pure
/// functions of the data and the seed, so a resumed run re-creates an epoch and skips what was already trained.
/// </summary>
public interface ITrainingSequences : IDisposable
{
    IEnumerable<TrainingSequence> Epoch(int epoch);
    IEnumerable<TrainingSequence> Validation();
    bool HasValidation { get; }
}

/// <summary>
/// Chat / prompt-completion examples: encoded with labels, packed (or one example per row), streamed. With
/// <paramref name="trainAllTokens"/> (train_on all_tokens) every token carries loss, not only the answers.
/// </summary>
public sealed class EncodedSequences(TrainingDataset train, DatasetSplit split, TrainingDataset? validationFile,
    ExampleEncoder encoder, ulong seed, int maxSeqLen, bool packing, int padId, bool trainAllTokens = false) : ITrainingSequences
{
    public bool HasValidation => validationFile is not null || split.Validation.Length > 0;

    public IEnumerable<TrainingSequence> Epoch(int epoch) => Rows(train.EncodedEpoch(encoder, split.Train, seed, epoch));

    public IEnumerable<TrainingSequence> Validation() => validationFile is not null
        ? Rows(validationFile.EncodedEpoch(encoder, Enumerable.Range(0, validationFile.Count).ToArray(), seed, 0, shuffle: false))
        : Rows(train.EncodedEpoch(encoder, split.Validation, seed, 0, shuffle: false));

    public void Dispose()
    {
        train.Dispose();
        validationFile?.Dispose();
    }

    private IEnumerable<TrainingSequence> Rows(IEnumerable<EncodedExample> encoded)
    {
        var examples = trainAllTokens ? encoded.Select(e => e with { Labels = (int[])e.InputIds.Clone() }) : encoded;
        return Pack(examples);
    }

    private IEnumerable<TrainingSequence> Pack(IEnumerable<EncodedExample> examples) => packing
        ? new SequencePacker(maxSeqLen, padId).Pack(examples).Select(p => new TrainingSequence(p.InputIds, p.Labels, p.PositionIds, p.SegmentIds))
        : examples.Select(e => new TrainingSequence(e.InputIds, e.Labels, null, null));
}

/// <summary>Blocks of a plain-text corpus (pretraining): shuffled per epoch; a seeded fraction, or a second file, validates.</summary>
public sealed class TextSequences(TextCorpus train, DatasetSplit split, TextCorpus? validationFile, ulong seed) : ITrainingSequences
{
    public bool HasValidation => validationFile is not null || split.Validation.Length > 0;

    public IEnumerable<TrainingSequence> Epoch(int epoch)
    {
        var order = DeterministicShuffle.Permutation(split.Train.Length, DeterministicShuffle.EpochSeed(seed, epoch));
        foreach (var i in order) yield return Row(train.Blocks[split.Train[i]]);
    }

    public IEnumerable<TrainingSequence> Validation() => validationFile is not null
        ? validationFile.Blocks.Select(Row)
        : split.Validation.Select(i => Row(train.Blocks[i]));

    private static TrainingSequence Row(int[] block) => new(block, block, null, null);

    public void Dispose() { }
}
