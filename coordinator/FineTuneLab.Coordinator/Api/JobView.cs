using System.Text.Json.Nodes;
using FineTuneLab.Coordinator.Jobs;
using FineTuneLab.Coordinator.Store;
using FineTuneLab.Events;

namespace FineTuneLab.Coordinator.Api;

/// <summary>The JSON shape of a job in the REST API (docs/api.md).</summary>
public static class JobView
{
    public static JsonObject Summary(JobRow j) => new()
    {
        ["id"] = j.Id, ["name"] = j.Name, ["project"] = j.Project, ["state"] = j.State, ["stop_reason"] = j.StopReason,
        ["priority"] = j.Priority, ["created_at"] = j.CreatedAt, ["started_at"] = j.StartedAt, ["finished_at"] = j.FinishedAt,
        ["agent_id"] = j.AgentId, ["waiting_reason"] = j.State == JobStates.Queued ? j.WaitingReason : null,
    };

    /// <summary>An item of <c>GET /api/jobs</c>: the summary with its cost, budget and restarts.</summary>
    public static JsonObject ListItem(CoordinatorStore store, JobRow j)
    {
        var o = Summary(j);
        var cost = JobProjection.Cost(j, JobEvents.Latest<StepEvent>(store, j.Id));
        o["cost"] = CostJson(cost);
        o["budget"] = BudgetJson(j, cost);
        o["restarts"] = j.Restarts;
        return o;
    }

    public static JsonObject Full(CoordinatorRuntime rt, JobRow j)
    {
        var o = Summary(j);
        var spec = ApiSupport.ParseJson(j.SpecJson) as JsonObject;
        o["gpu_index"] = j.GpuIndex;
        o["restarts"] = j.Restarts;
        o["max_restarts"] = rt.Jobs.MaxRestarts;
        o["method"] = spec?["method"]?.GetValue<string>() ?? "lora";
        o["model"] = spec?["model"]?["path"]?.GetValue<string>();
        o["spec"] = spec;
        o["resources"] = JsonNode.Parse(j.ResourcesJson);

        var step = JobEvents.Latest<StepEvent>(rt.Store, j.Id);
        var eval = JobEvents.Latest<EvalEvent>(rt.Store, j.Id);
        var cost = JobProjection.Cost(j, step);
        o["budget"] = BudgetJson(j, cost);
        o["cost"] = CostJson(cost);
        o["progress"] = step is null ? null : new JsonObject
        {
            ["step"] = step.Step, ["total_steps"] = step.TotalSteps, ["epoch"] = Number(step.Epoch),
            ["loss"] = Number(step.Loss), ["eval_loss"] = eval is null ? null : Number(eval.EvalLoss),
            ["tokens_per_s"] = Number(step.TokensPerS), ["samples_per_s"] = Number(step.SamplesPerS),
        };
        o["error"] = j.ErrorJson is null ? null : JsonNode.Parse(j.ErrorJson);
        var last = rt.Jobs.Checkpoints(j.Id).LastOrDefault();
        o["last_checkpoint"] = last is null ? null : new JsonObject { ["step"] = last.Step, ["sha256"] = last.Sha256, ["bytes"] = last.Bytes };
        o["adapter_sha256"] = j.AdapterSha256;
        return o;
    }

    /// <summary>A number as the event contract writes it: a diverged run's NaN or Infinity as the strings "NaN" / "Infinity".</summary>
    public static JsonNode Number(double d) => double.IsFinite(d) ? JsonValue.Create(d) : JsonValue.Create(
        double.IsNaN(d) ? "NaN" : d > 0 ? "Infinity" : "-Infinity");

    /// <summary><c>{max_usd, max_hours, state, fraction}</c>; an infinite fraction (a zero limit) is shown as null with state exhausted.</summary>
    public static JsonObject BudgetJson(JobRow j, JobCostNow cost) => new()
    {
        ["max_usd"] = j.BudgetUsd, ["max_hours"] = j.BudgetHours, ["state"] = cost.BudgetStateName,
        ["fraction"] = cost.FractionOfBudget is { } f && double.IsFinite(f) ? Math.Round(f, 6) : null,
    };

    /// <summary><c>{spent_usd, rate_usd_per_hour, projected_usd, projection_basis, projection_reason, hours}</c>.</summary>
    public static JsonObject CostJson(JobCostNow cost) => new()
    {
        ["spent_usd"] = Math.Round(cost.SpentUsd, 6), ["rate_usd_per_hour"] = cost.RateUsdPerHour,
        ["projected_usd"] = cost.ProjectedUsd is { } p ? Math.Round(p, 6) : null,
        ["projection_basis"] = cost.ProjectionBasis, ["projection_reason"] = cost.ProjectionReason, ["hours"] = Math.Round(cost.HoursUsed, 6),
    };
}
