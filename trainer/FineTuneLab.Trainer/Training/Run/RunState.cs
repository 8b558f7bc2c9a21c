using System.Text.Json;

namespace FineTuneLab.Trainer.Training.Run;

/// <summary>
/// Everything besides weights and optimizer moments that decides what the next step computes: the optimizer step
/// (which also is the scheduler step and the dropout-seed counter), where the data stream stands, and the seed.
/// Stored as run_state.json in each checkpoint.
/// </summary>
public sealed record RunState
{
    public const string FileName = "run_state.json";
    public const int CurrentFormatVersion = 1;

    public int FormatVersion { get; init; } = CurrentFormatVersion;
    /// <summary>Optimizer steps done; the schedule's next rate is At(Step) and AdamW's bias correction uses Step + 1.</summary>
    public required long Step { get; init; }
    public required long TotalSteps { get; init; }
    /// <summary>The data epoch the next row comes from and how many of its rows are already trained.</summary>
    public required int DataEpoch { get; init; }
    public required long DataIndex { get; init; }
    public required ulong Seed { get; init; }
    /// <summary>Dropout masks are drawn from this seed and the step counter (TrainingStep).</summary>
    public required ulong DropoutSeed { get; init; }
    public required string Method { get; init; }
    public required long TrainableParameters { get; init; }
    public long TokensSeen { get; init; }
    public double ElapsedSeconds { get; init; }

    private static readonly JsonSerializerOptions Json = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower, WriteIndented = true };

    public void Save(string path) => File.WriteAllBytes(path, JsonSerializer.SerializeToUtf8Bytes(this, Json));

    public static RunState Load(string path)
    {
        try
        {
            var state = JsonSerializer.Deserialize<RunState>(File.ReadAllBytes(path), Json) ?? throw new InvalidDataException($"{path}: empty");
            if (state.FormatVersion > CurrentFormatVersion)
                throw new InvalidDataException($"{path}: format version {state.FormatVersion} is newer than this ftl-train reads ({CurrentFormatVersion})");
            return state;
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path}: not a valid run state ({e.Message})");
        }
    }
}
