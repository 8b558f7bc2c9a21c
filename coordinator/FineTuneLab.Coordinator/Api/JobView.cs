using System.Text.Json.Nodes;
using FineTuneLab.Coordinator.Jobs;
using FineTuneLab.Coordinator.Store;
using FineTuneLab.Events;

namespace FineTuneLab.Coordinator.Api;

/// <summary>A job as the commands answer it: who, where and in which state (docs/api.md).</summary>
public sealed record JobSummary(string Id, string Name, string Project, string State, string? StopReason, int Priority, string CreatedAt,
    string? StartedAt, string? FinishedAt, string? AgentId, string? WaitingReason);

/// <summary>An item of <c>GET /api/jobs</c>: the summary with its cost, budget and restarts.</summary>
public sealed record JobListItem(string Id, string Name, string Project, string State, string? StopReason, int Priority, string CreatedAt,
    string? StartedAt, string? FinishedAt, string? AgentId, string? WaitingReason, CostView Cost, BudgetView Budget, int Restarts);

public sealed record JobList(IReadOnlyList<JobListItem> Jobs, long Total);

/// <summary><c>GET /api/jobs/{id}</c>: the summary, the spec and resources, cost, budget, progress, error and outputs.</summary>
public sealed record JobDetail(string Id, string Name, string Project, string State, string? StopReason, int Priority, string CreatedAt,
    string? StartedAt, string? FinishedAt, string? AgentId, string? WaitingReason, int? GpuIndex, int Restarts, int MaxRestarts,
    string Method, string? Model, JsonObject? Spec, JsonNode? Resources, BudgetView Budget, CostView Cost, ProgressView? Progress,
    JsonNode? Error, CheckpointView? LastCheckpoint, string? AdapterSha256);

/// <summary><c>{max_usd, max_hours, state, fraction}</c>; an infinite fraction (a zero limit) is shown as null with state exhausted.</summary>
public sealed record BudgetView(double? MaxUsd, double? MaxHours, string State, double? Fraction);

/// <summary>The job's cost as <see cref="JobProjection.Cost"/> decides it.</summary>
public sealed record CostView(double SpentUsd, double RateUsdPerHour, double? ProjectedUsd, string? ProjectionBasis, string? ProjectionReason, double Hours);

/// <summary>The latest step's figures (NaN and Infinity written as the strings the event contract uses).</summary>
public sealed record ProgressView(long Step, long TotalSteps, double Epoch, double Loss, double? EvalLoss, double TokensPerS, double SamplesPerS);

public sealed record CheckpointView(long Step, string Sha256, long Bytes);

/// <summary>Maps the store's rows and the projection's figures to the API's records.</summary>
public static class JobView
{
    public static JobSummary Summary(JobRow j) => new(j.Id, j.Name, j.Project, j.State, j.StopReason, j.Priority, j.CreatedAt,
        j.StartedAt, j.FinishedAt, j.AgentId, Waiting(j));

    public static JobListItem ListItem(CoordinatorStore store, JobRow j)
    {
        var cost = JobProjection.Cost(j, JobEvents.Latest<StepEvent>(store, j.Id));
        return new JobListItem(j.Id, j.Name, j.Project, j.State, j.StopReason, j.Priority, j.CreatedAt, j.StartedAt, j.FinishedAt,
            j.AgentId, Waiting(j), Cost(cost), Budget(j, cost), j.Restarts);
    }

    public static JobDetail Full(CoordinatorRuntime rt, JobRow j)
    {
        var spec = ApiSupport.ParseJson(j.SpecJson) as JsonObject;
        var step = JobEvents.Latest<StepEvent>(rt.Store, j.Id);
        var eval = JobEvents.Latest<EvalEvent>(rt.Store, j.Id);
        var cost = JobProjection.Cost(j, step);
        var last = rt.Jobs.Checkpoints(j.Id).LastOrDefault();
        return new JobDetail(j.Id, j.Name, j.Project, j.State, j.StopReason, j.Priority, j.CreatedAt, j.StartedAt, j.FinishedAt,
            j.AgentId, Waiting(j), j.GpuIndex, j.Restarts, rt.Jobs.MaxRestarts,
            spec?["method"]?.GetValue<string>() ?? "lora", spec?["model"]?["path"]?.GetValue<string>(), spec, JsonNode.Parse(j.ResourcesJson),
            Budget(j, cost), Cost(cost),
            step is null ? null : new ProgressView(step.Step, step.TotalSteps, step.Epoch, step.Loss, eval?.EvalLoss, step.TokensPerS, step.SamplesPerS),
            j.ErrorJson is null ? null : JsonNode.Parse(j.ErrorJson),
            last is null ? null : new CheckpointView(last.Step, last.Sha256, last.Bytes), j.AdapterSha256);
    }

    public static BudgetView Budget(JobRow j, JobCostNow cost) => new(j.BudgetUsd, j.BudgetHours, cost.BudgetStateName,
        cost.FractionOfBudget is { } f && double.IsFinite(f) ? Math.Round(f, 6) : null);

    public static CostView Cost(JobCostNow cost) => new(Math.Round(cost.SpentUsd, 6), cost.RateUsdPerHour,
        cost.ProjectedUsd is { } p ? Math.Round(p, 6) : null, cost.ProjectionBasis, cost.ProjectionReason, Math.Round(cost.HoursUsed, 6));

    private static string? Waiting(JobRow j) => j.State == JobStates.Queued ? j.WaitingReason : null;
}
