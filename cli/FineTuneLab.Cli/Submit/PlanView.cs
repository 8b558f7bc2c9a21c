using System.Text.Json;
using System.Text.Json.Nodes;
using FineTuneLab.Cli.Output;
using Spectre.Console;

namespace FineTuneLab.Cli.Submit;

/// <summary>
/// What <c>ftl submit</c> shows before it queues a job: the uploads, the coordinator's plan (its validation and memory
/// plan, text or JSON), and the coordinator's cost projection: where it would run, at what price, and, from earlier
/// runs of the model, how long and what it would cost against its budget.
/// </summary>
public static class PlanView
{
    public static void Print(JobFile job, IReadOnlyList<ArtifactUploader.Result> uploads, IReadOnlyList<string> notes, JsonNode answer)
    {
        var body = job.Body;
        var resources = body["resources"] as JsonObject;
        var grid = new Grid().AddColumn(new GridColumn().NoWrap().PadRight(2)).AddColumn();
        void Row(string name, string value) => grid.AddRow(new Text(name, new Style(Color.Grey)), new Text(value));
        Row("job", $"{Format.Str(body["name"])}" + (Format.Str(body["project"]) is { Length: > 0 } p ? $" (project {p})" : "") + $" from {job.Path}");
        Row("method", $"{Format.Str(job.Spec["method"]) ?? "lora"}, " + (Format.Num(job.Spec["max_steps"]) is { } steps ? $"{steps} steps" : $"{Format.Number(Format.Num(job.Spec["epochs"]))} epoch(s)"));
        foreach (var u in uploads)
            Row(u.Field, $"{u.Name}  sha256 {u.Sha256[..16]}…  {Format.Bytes(u.Bytes)}  {(u.Uploaded ? "uploaded" : "already on the coordinator")}");
        foreach (var n in notes) Row("note", n);
        Row("resources", $"device {Format.Str(resources?["device"]) ?? "auto"}" +
            (resources?["gpu_kinds"] is JsonArray kinds && kinds.Count > 0 ? $", GPU {string.Join(" or ", kinds.Select(k => Format.Str(k)))}" : "") +
            (Format.Num(resources?["max_price_per_hour"]) is { } mp ? $", at most {Format.Usd(mp)}/h" : "") +
            (Format.Num(resources?["min_gpu_memory_gb"]) is { } gb ? $", at least {Format.Number(gb)} GB of GPU memory" : ""));
        Row("budget", JobText.Budget(body["budget"]));
        Terminal.Out.Write(grid);

        if (answer["plan"] is { } plan)
        {
            Terminal.Markup("[bold]plan[/]");
            Terminal.Line(plan is JsonValue v && v.TryGetValue<string>(out var text) ? Indent(text) : Indent(plan.ToJsonString(new JsonSerializerOptions { WriteIndented = true })));
        }
        Terminal.Markup("[bold]cost[/]");
        foreach (var line in CostLines(answer["projection"] as JsonObject ?? [])) Terminal.Line("  " + line);
    }

    /// <summary>The coordinator's projection (<c>POST /api/jobs?dry_run=true</c>, docs/api.md) in words.</summary>
    public static IEnumerable<string> CostLines(JsonObject p)
    {
        if (Format.Str(p["agent_name"]) is { } agent)
            yield return $"would run on {agent}" + (Format.Str(p["gpu_name"]) is { } gpu ? $" (GPU {Format.Int(p["gpu_index"])}, {gpu})" : " (CPU)") +
                $" at {Format.Usd(Format.Num(p["rate_usd_per_hour"]))}/h";
        if (Format.Num(p["total_steps"]) is { } steps)
            yield return $"{steps:#,0} steps, {Format.Number(Format.Num(p["total_tokens"]), "#,0")} tokens";
        if (Format.Num(p["cost_usd"]) is { } cost)
        {
            yield return $"projected {Format.Usd(cost)} over {Format.Number(Format.Num(p["hours"]), "0.####")} h at {Format.Number(Format.Num(p["tokens_per_s"]), "#,0")} tokens/s";
            yield return $"throughput: {Format.Str(p["throughput_basis"])}";
        }
        if (Format.Str(p["reason"]) is { } reason) yield return $"no projected cost: {reason}";
        if (Format.Num(p["budget_cap_usd"]) is { } cap)
            yield return p["within_budget"] is JsonValue w && !w.GetValue<bool>()
                ? $"over budget: the coordinator checkpoints and stops the job at {Format.Usd(cap)}, before the projected total"
                : $"at most {Format.Usd(cap)}: the coordinator checkpoints and stops the job before its budget is crossed";
        else yield return "no budget: spend is not capped (--budget-usd, --max-hours)";
    }

    private static string Indent(string text) => string.Join("\n", text.Trim().Split('\n').Select(l => "  " + l.TrimEnd()));
}
