using FineTuneLab.Coordinator.Store;
using FineTuneLab.Shared.Costs;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.Data.Sqlite;

namespace FineTuneLab.Coordinator.Jobs;

/// <summary>One row of the jobs table.</summary>
public sealed record JobRow(
    string Id, string Name, string Project, int Priority, string SpecJson, string ResourcesJson, string State,
    string? AgentId, int? GpuIndex, double? PricePerHour, double? BudgetUsd, double? BudgetHours,
    double SpentBeforeUsd, double HoursBefore, double UptimeSeconds, string? ResumeCheckpoint, string? WaitingReason,
    string? StopReason, string? ErrorJson, string CreatedAt, string? StartedAt, string? FinishedAt, int Restarts,
    long MinMemoryBytes, double? MaxPricePerHour, string? AdapterSha256, string UpdatedAt)
{
    public Budget Budget => new(BudgetUsd, BudgetHours);

    /// <summary>The trainer's pace (its last steps and checkpoint), what the budget check needs beyond the spend.</summary>
    public PaceState Pace { get; init; } = PaceState.Empty;

    internal const string Columns = "id, name, project, priority, spec_json, resources_json, state, agent_id, gpu_index, price_per_hour, " +
        "budget_usd, budget_hours, spent_before_usd, hours_before, uptime_s, resume_checkpoint, reason, stop_reason, error_json, " +
        "created_at, started_at, finished_at, restarts, min_vram_bytes, max_price_per_hour, adapter_sha256, updated_at, pace_json";

    internal static JobRow Read(SqliteDataReader r) => new(
        r.Str("id")!, r.Str("name")!, r.Str("project")!, (int)r.Lng("priority")!.Value, r.Str("spec_json")!, r.Str("resources_json")!,
        r.Str("state")!, r.Str("agent_id"), (int?)r.Lng("gpu_index"), r.Dbl("price_per_hour"), r.Dbl("budget_usd"), r.Dbl("budget_hours"),
        r.Dbl("spent_before_usd") ?? 0, r.Dbl("hours_before") ?? 0, r.Dbl("uptime_s") ?? 0, r.Str("resume_checkpoint"), r.Str("reason"),
        r.Str("stop_reason"), r.Str("error_json"), r.Str("created_at")!, r.Str("started_at"), r.Str("finished_at"),
        (int)(r.Lng("restarts") ?? 0), r.Lng("min_vram_bytes") ?? 0, r.Dbl("max_price_per_hour"), r.Str("adapter_sha256"), r.Str("updated_at")!)
    {
        Pace = r.Str("pace_json") is { } pace ? JsonSerializer.Deserialize<PaceState>(pace, PaceJson) ?? PaceState.Empty : PaceState.Empty,
    };

    /// <summary>How <see cref="Pace"/> is kept in the row (a diverged run's NaN elapsed time included).</summary>
    internal static readonly JsonSerializerOptions PaceJson = new() { NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals };
}
