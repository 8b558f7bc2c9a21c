using System.Text.Json.Serialization;

namespace FineTuneLab.Events;

/// <summary>
/// One line of the trainer's event stream (JSONL on stdout, also appended to DIR/events.jsonl), schema version
/// <see cref="EventSchema.Version"/>, documented in docs/trainer-events.md. The trainer's writer
/// stamps <see cref="Seq"/> (strictly increasing from 1 across a run and its resumes) and <see cref="Time"/>.
/// </summary>
[JsonPolymorphic(TypeDiscriminatorPropertyName = "type")]
[JsonDerivedType(typeof(StartEvent), "start")]
[JsonDerivedType(typeof(StepEvent), "step")]
[JsonDerivedType(typeof(EvalEvent), "eval")]
[JsonDerivedType(typeof(CheckpointEvent), "checkpoint")]
[JsonDerivedType(typeof(LogEvent), "log")]
[JsonDerivedType(typeof(WarningEvent), "warning")]
[JsonDerivedType(typeof(ErrorEvent), "error")]
[JsonDerivedType(typeof(DoneEvent), "done")]
public abstract record TrainerEvent
{
    [JsonPropertyOrder(-3)] public int V { get; init; } = EventSchema.Version;
    [JsonPropertyOrder(-2)] public long Seq { get; init; }
    [JsonPropertyOrder(-1)] public DateTimeOffset Time { get; init; }
}

/// <summary>The first event of a run: what runs where.</summary>
public sealed record StartEvent(string Job, string Device, string DeviceName, long DeviceMemoryBytes, string? ComputeCapability,
    int Threads, long TotalSteps, long TokensPerEpoch, int ResumedFromStep) : TrainerEvent
{
    /// <summary>With device auto: which backend was taken and why (e.g. the CPU because no NVIDIA driver is present).</summary>
    public string? DeviceNote { get; init; }
}

public sealed record MemoryFigures(long RssBytes, long PeakRssBytes, long DeviceAllocatedBytes, long DeviceReservedBytes, long DevicePeakBytes);

public sealed record StepEvent(long Step, long TotalSteps, double Epoch, double Loss, double Lr, double GradNorm,
    double TokensPerS, double SamplesPerS, double ElapsedS, long Tokens, MemoryFigures Memory, PreferenceFigures? Dpo = null) : TrainerEvent;

/// <summary>DPO's measures over a step's (or an evaluation's) pairs; only in runs with method dpo.</summary>
public sealed record PreferenceFigures(double RewardMargin, double Accuracy, double ChosenReward, double RejectedReward, int Pairs);

public sealed record EvalEvent(long Step, double EvalLoss, double TokenAccuracy, double Perplexity, long Tokens, PreferenceFigures? Dpo = null) : TrainerEvent;

public sealed record CheckpointEvent(long Step, string Path, long Bytes, string Sha256) : TrainerEvent;

public sealed record LogEvent(string Level, string Message) : TrainerEvent;

/// <summary>Something a person should look at: kind is nan_loss, loss_spike, loss_stalled, throughput_drop, ...</summary>
public sealed record WarningEvent(string Kind, string Message, long Step) : TrainerEvent;

public sealed record ErrorEvent(string Message, string? ExceptionType, string? StackTrace) : TrainerEvent;

/// <summary>The last event: reason is completed, stopped or failed.</summary>
public sealed record DoneEvent(string Reason, long Step, string? AdapterPath, double ElapsedS) : TrainerEvent;
