namespace FineTuneLab.Trainer.Data;

/// <summary>
/// A JSONL training file opened for training: indexed by byte offset (never loaded whole), split, shuffled per
/// epoch by seed, parsed and encoded lazily. A line with errors stops training with its line number; run
/// <see cref="DatasetCheck"/> first to see them all.
/// </summary>
public sealed class TrainingDataset : IDisposable
{
    private readonly JsonlIndex _index;
    private readonly RecordParser _parser;

    public int Count => _index.Count;
    public string Path => _index.Path;

    private TrainingDataset(JsonlIndex index, RecordParser parser)
    {
        _index = index;
        _parser = parser;
    }

    public static async Task<TrainingDataset> OpenAsync(string path, DatasetFormat format = DatasetFormat.Auto,
        ColumnMapping? mapping = null, CancellationToken ct = default) =>
        new(await JsonlIndex.BuildAsync(path, ct), new RecordParser(format, mapping));

    public DatasetRecord Read(int index)
    {
        var problems = new List<DatasetProblem>();
        var line = _index.Read(index);
        return _parser.Parse(line, problems) ?? throw new DatasetFormatException(_index.Path, problems);
    }

    /// <summary>The examples of <paramref name="indices"/> in a seeded order that differs per epoch.</summary>
    public IEnumerable<DatasetRecord> Epoch(IReadOnlyList<int> indices, ulong seed, int epoch, bool shuffle = true)
    {
        var order = shuffle ? DeterministicShuffle.Permutation(indices.Count, DeterministicShuffle.EpochSeed(seed, epoch)) : null;
        for (var i = 0; i < indices.Count; i++)
            yield return Read(indices[order is null ? i : order[i]]);
    }

    /// <summary>Encoded (and fitted) examples of an epoch; dropped ones are skipped.</summary>
    public IEnumerable<EncodedExample> EncodedEpoch(ExampleEncoder encoder, IReadOnlyList<int> indices, ulong seed, int epoch, bool shuffle = true)
    {
        foreach (var record in Epoch(indices, seed, epoch, shuffle))
        {
            if (record is PreferenceRecord)
                throw new InvalidOperationException($"{Path}: line {record.LineNumber} is a preference pair; use ExampleEncoder.EncodePreference");
            if (encoder.Encode(record) is { } e) yield return e;
        }
    }

    public void Dispose() => _index.Dispose();
}
