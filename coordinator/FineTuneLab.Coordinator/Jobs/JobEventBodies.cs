using System.Text.Json;
using System.Text.Json.Serialization;

namespace FineTuneLab.Coordinator.Jobs;

/// <summary>
/// The events the coordinator itself appends to a job's log (docs/api.md, "Job events"), as typed records: the
/// trainer's own events are the shared <see cref="FineTuneLab.Events.TrainerEvent"/> records. Each record's JSON
/// (snake_case, through <see cref="Options"/>) is the documented <c>data</c> of its event type.
/// </summary>
public abstract record JobEventBody
{
    public static readonly JsonSerializerOptions Options = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    /// <summary>The event's type in the feed.</summary>
    [JsonIgnore] public abstract string Type { get; }

    public string ToJson() => JsonSerializer.Serialize(this, GetType(), Options);

    /// <summary>Reads a stored coordinator event of <paramref name="type"/>; null for a type that has no record here.</summary>
    public static JobEventBody? Parse(string type, string json) => type switch
    {
        JobEvents.State or JobEvents.StateReport => Read<StateChanged>(json),
        JobEvents.Assigned => Read<JobAssigned>(json),
        JobEvents.Requeued => Read<Requeued>(json),
        JobEvents.BudgetAlert => Read<BudgetAlert>(json),
        JobEvents.Anomaly => Read<AnomalyRaised>(json),
        _ => null,
    };

    private static T? Read<T>(string json) where T : JobEventBody => JsonSerializer.Deserialize<T>(json, Options);
}

/// <summary>The job's limits after a resume that changed them.</summary>
public sealed record BudgetLimits(double? MaxUsd, double? MaxHours);

/// <summary>
/// A transition (<c>state</c>) or, with <see cref="Ignored"/>, an agent's report that moved nothing (<c>state_report</c>):
/// from, to, reason, by (scheduler, user, agent, coordinator); an agent's report adds what it said.
/// </summary>
public sealed record StateChanged(string? From, string? To, string? Reason, string By) : JobEventBody
{
    [JsonIgnore] public override string Type => Ignored is null ? JobEvents.State : JobEvents.StateReport;
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? AgentId { get; init; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public double? JobUptimeS { get; init; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public int? ExitCode { get; init; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public int? Signal { get; init; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? ErrorMessage { get; init; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? Ignored { get; init; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public BudgetLimits? Budget { get; init; }
}

/// <summary>The job was placed on an agent, at the agent's price frozen for this assignment.</summary>
public sealed record JobAssigned(string AgentId, string? AgentName, int? GpuIndex, string? GpuName, long? GpuMemoryBytes,
    double PricePerHour, int Restarts, string? ResumeCheckpoint, double SpentUsdBefore) : JobEventBody
{
    [JsonIgnore] public override string Type => JobEvents.Assigned;
}

/// <summary>A checkpoint a re-queued job resumes from.</summary>
public sealed record CheckpointRef(long Step, string Sha256);

/// <summary>The job went back to the queue (its agent was lost, or it failed in a way a retry can fix).</summary>
public sealed record Requeued(string Reason, int Restarts, int MaxRestarts, CheckpointRef? ResumeCheckpoint, double SpentUsd) : JobEventBody
{
    [JsonIgnore] public override string Type => JobEvents.Requeued;
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? AgentId { get; init; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? Message { get; init; }
    /// <summary>The failure that was retried (class, advice, exit code, signal).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public JobError? Error { get; init; }
}

/// <summary>50%, 80% or 100% of the job's budget was reached (once per job and budget).</summary>
public sealed record BudgetAlert(double Threshold, double Fraction, double SpentUsd, double HoursUsed, double? MaxUsd,
    double? MaxHours, string Message) : JobEventBody
{
    [JsonIgnore] public override string Type => JobEvents.BudgetAlert;
}

/// <summary>A training anomaly, detected by the trainer (a warning event) or by the coordinator, and what was done about it.</summary>
public sealed record AnomalyRaised(string Kind, string Message, long? Step, string DetectedBy, string Action, bool ActionTaken) : JobEventBody
{
    [JsonIgnore] public override string Type => JobEvents.Anomaly;
}

/// <summary>A failed job's error (the jobs table's <c>error_json</c> and the API's <c>error</c>).</summary>
public sealed record JobError(string Message)
{
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? StackTrace { get; init; }
    public string? Class { get; init; }
    public string? Advice { get; init; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public int? ExitCode { get; init; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public int? Signal { get; init; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public bool? Retryable { get; init; }

    public string ToJson() => JsonSerializer.Serialize(this, JobEventBody.Options);
}
