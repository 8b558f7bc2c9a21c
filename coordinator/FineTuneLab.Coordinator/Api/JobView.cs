using System.Text.Json.Nodes;
using FineTuneLab.Coordinator.Jobs;

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

        var step = JobEvents.Latest(rt.Store, j.Id, "step");
        var eval = JobEvents.Latest(rt.Store, j.Id, "eval");
        double? tps = step?["tokens_per_s"] is JsonValue t && t.TryGetValue<double>(out var tv) ? tv : null;
        long? tokensLeft = null;
        if (step?["step"] is JsonValue s && step["total_steps"] is JsonValue ts && step["tokens"] is JsonValue tk &&
            s.TryGetValue<long>(out var sv) && ts.TryGetValue<long>(out var tsv) && tk.TryGetValue<long>(out var tkv) && sv > 0)
            tokensLeft = (tsv - sv) * (tkv / sv);
        var cost = j.Cost(tokensLeft, tps);
        o["budget"] = new JsonObject
        {
            ["max_usd"] = j.BudgetUsd, ["max_hours"] = j.BudgetHours,
            ["state"] = cost.State.ToString() switch { "WithinBudget" => "within_budget", "Above50Percent" => "above_50_percent", "Above80Percent" => "above_80_percent", "Exhausted" => "exhausted", _ => "unlimited" },
            ["fraction"] = cost.FractionOfBudget,
        };
        o["cost"] = new JsonObject { ["spent_usd"] = Math.Round(cost.SpentUsd, 6), ["rate_usd_per_hour"] = cost.RateUsdPerHour, ["projected_usd"] = cost.ProjectedUsd };
        o["progress"] = step is null ? null : new JsonObject
        {
            ["step"] = step["step"]?.DeepClone(), ["total_steps"] = step["total_steps"]?.DeepClone(), ["epoch"] = step["epoch"]?.DeepClone(),
            ["loss"] = step["loss"]?.DeepClone(), ["eval_loss"] = eval?["eval_loss"]?.DeepClone(),
            ["tokens_per_s"] = step["tokens_per_s"]?.DeepClone(), ["samples_per_s"] = step["samples_per_s"]?.DeepClone(),
        };
        o["error"] = j.ErrorJson is null ? null : JsonNode.Parse(j.ErrorJson);
        var last = rt.Jobs.Checkpoints(j.Id).LastOrDefault();
        o["last_checkpoint"] = last is null ? null : new JsonObject { ["step"] = last.Step, ["sha256"] = last.Sha256, ["bytes"] = last.Bytes };
        o["adapter_sha256"] = j.AdapterSha256;
        return o;
    }
}
