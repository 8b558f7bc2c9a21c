using System.Text.Json.Nodes;
using FineTuneLab.Cli.Output;

namespace FineTuneLab.Cli.Compare;

/// <summary>
/// One job's outcome as <c>ftl compare</c> lines it up against others: from <c>GET /api/jobs/{id}</c> and its
/// per-step metrics (<c>GET /api/jobs/{id}/metrics?format=json</c>), the figures the dashboard's Compare page charts.
/// </summary>
public sealed record RunSummary(
    string Id, string Name, string State, string Method, string? Model, long? Steps, long? TotalSteps,
    double? FinalLoss, double? BestEvalLoss, long? BestEvalStep, double? LastEvalLoss, double? MedianTokensPerSecond,
    double? SpentUsd, double? ProjectedUsd, double? Hours, IReadOnlyDictionary<long, double> EvalLossByStep)
{
    public static RunSummary From(JsonNode job, JsonNode metrics)
    {
        var rows = (metrics["rows"] as JsonArray ?? []).OfType<JsonObject>().ToList();
        var evals = rows.Where(r => Format.Num(r["eval_loss"]) is not null)
            .Select(r => (Step: Format.Int(r["step"]) ?? 0, Loss: Format.Num(r["eval_loss"])!.Value)).ToList();
        var best = evals.Count == 0 ? ((long Step, double Loss)?)null : evals.MinBy(e => e.Loss);
        var speeds = rows.Select(r => Format.Num(r["tokens_per_s"])).OfType<double>().Where(v => v > 0).Order().ToList();
        var lastLoss = rows.Select(r => Format.Num(r["loss"])).LastOrDefault(v => v is not null);
        return new RunSummary(
            Format.Str(job["id"]) ?? "?", Format.Str(job["name"]) ?? "", Format.Str(job["state"]) ?? "", Format.Str(job["method"]) ?? "lora",
            Format.Str(job["model"]), Format.Int(job["progress"]?["step"]), Format.Int(job["progress"]?["total_steps"]),
            lastLoss, best?.Loss, best?.Step, evals.Count == 0 ? null : evals[^1].Loss,
            speeds.Count == 0 ? null : speeds[speeds.Count / 2],
            Format.Num(job["cost"]?["spent_usd"]), Format.Num(job["cost"]?["projected_usd"]), Format.Num(job["cost"]?["hours"]),
            evals.GroupBy(e => e.Step).ToDictionary(g => g.Key, g => g.Last().Loss));
    }

    public JsonObject ToJson() => new()
    {
        ["id"] = Id, ["name"] = Name, ["state"] = State, ["method"] = Method, ["model"] = Model, ["steps"] = Steps, ["total_steps"] = TotalSteps,
        ["final_loss"] = FinalLoss, ["best_eval_loss"] = BestEvalLoss, ["best_eval_step"] = BestEvalStep, ["last_eval_loss"] = LastEvalLoss,
        ["median_tokens_per_s"] = MedianTokensPerSecond, ["spent_usd"] = SpentUsd, ["projected_usd"] = ProjectedUsd, ["hours"] = Hours,
    };
}
