namespace FineTuneLab.Trainer.Data;

public sealed record DatasetCheckOptions
{
    public DatasetFormat Format { get; init; } = DatasetFormat.Auto;
    public ColumnMapping? Mapping { get; init; }
    public EncodingOptions Encoding { get; init; } = new();
    /// <summary>Estimated similarity from which two examples count as near duplicates.</summary>
    public double NearDuplicateThreshold { get; init; } = 0.8;
    /// <summary>Near-duplicate search covers this many examples (256 bytes of memory each); exact duplicates cover all.</summary>
    public int NearDuplicateLimit { get; init; } = 1_000_000;
    /// <summary>Training throughput for the time projection; none → no projection.</summary>
    public double? TokensPerSecond { get; init; }
    public double? PricePerHour { get; init; }
    public int Epochs { get; init; } = 1;
    /// <summary>How many problems the report lists (all are counted).</summary>
    public int MaxProblemsListed { get; init; } = 10_000;
}

/// <summary>Token lengths of the examples (prompt and answer together, before truncation).</summary>
public sealed record LengthStats(int Min, int Max, double Mean, int P50, int P90, int P95, int P99);

/// <summary>A later line that repeats (exactly, or nearly with the estimated similarity) an earlier one.</summary>
public sealed record DuplicatePair(long FirstLine, long DuplicateLine, double Similarity);

/// <summary>Training time and cost from a throughput and an hourly price.</summary>
public sealed record TrainingProjection(long TokensPerEpoch, int Epochs, double TokensPerSecond, double Seconds, double? PricePerHour, double? Cost);

public sealed record DatasetCheckReport
{
    public required string Path { get; init; }
    public required DatasetFormat Format { get; init; }
    public required long Lines { get; init; }
    public required long BlankLines { get; init; }
    public required int ValidExamples { get; init; }
    public required int ErrorCount { get; init; }
    public required int WarningCount { get; init; }
    /// <summary>Problems in line order (at most <see cref="DatasetCheckOptions.MaxProblemsListed"/>).</summary>
    public required IReadOnlyList<DatasetProblem> Problems { get; init; }
    public required long TotalTokens { get; init; }
    public required long TrainableTokens { get; init; }
    public long ContextTokens => TotalTokens - TrainableTokens;
    public required LengthStats? Lengths { get; init; }
    public required int MaxSeqLen { get; init; }
    public required int OverLongExamples { get; init; }
    public required IReadOnlyList<DuplicatePair> ExactDuplicates { get; init; }
    public required IReadOnlyList<DuplicatePair> NearDuplicates { get; init; }
    /// <summary>How many examples the near-duplicate search covered (see <see cref="DatasetCheckOptions.NearDuplicateLimit"/>).</summary>
    public required int NearDuplicatesChecked { get; init; }
    /// <summary>Chat: messages per role; prompt/completion and preference: fields per example kind.</summary>
    public required IReadOnlyDictionary<string, long> RoleCounts { get; init; }
    public required double? MeanTurns { get; init; }
    public required TrainingProjection? Projection { get; init; }

    public bool HasErrors => ErrorCount > 0;
}
