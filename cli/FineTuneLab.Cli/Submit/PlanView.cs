using System.Text.Json;
using System.Text.Json.Nodes;
using FineTuneLab.Cli.Output;
using Spectre.Console;

namespace FineTuneLab.Cli.Submit;

/// <summary>
/// What <c>ftl submit</c> shows before it queues a job: the uploads, the coordinator's plan (its validation and memory
/// plan, text or JSON), and the cost: the coordinator's projection when it gives one, and in any case the price the
/// job would run at now (the cheapest online agent that fits its limits) against its budget.
/// </summary>
public static class PlanView
{
    public static void Print(JobFile job, IReadOnlyList<ArtifactUploader.Result> uploads, IReadOnlyList<string> notes, JsonNode answer, JsonNode? agents)
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
        if (answer["projection"] is JsonObject projection)
            foreach (var (k, value) in projection)
                Terminal.Line($"  {k}: {(Format.Num(value) is { } d && k.EndsWith("usd", StringComparison.Ordinal) ? Format.Usd(d) : value?.ToJsonString())}");
        foreach (var line in PriceLines(body, agents)) Terminal.Line("  " + line);
    }

    /// <summary>The rate the job would be billed at now and what its budget caps, from the online agents and the job's limits.</summary>
    public static IEnumerable<string> PriceLines(JsonObject body, JsonNode? agents)
    {
        var resources = body["resources"] as JsonObject;
        var maxPrice = Format.Num(resources?["max_price_per_hour"]);
        var kinds = (resources?["gpu_kinds"] as JsonArray ?? []).Select(k => Format.Str(k)).OfType<string>().ToList();
        var device = Format.Str(resources?["device"]) ?? "auto";
        var fitting = (agents as JsonArray ?? []).OfType<JsonObject>()
            .Where(a => Format.Str(a["state"]) == "online")
            .Where(a => maxPrice is null || (Format.Num(a["price_per_hour"]) ?? 0) <= maxPrice)
            .Where(a =>
            {
                var gpus = (a["gpus"] as JsonArray ?? []).OfType<JsonObject>().Select(g => Format.Str(g["name"]) ?? "").ToList();
                if (device == "cuda" && gpus.Count == 0) return false;
                return kinds.Count == 0 || gpus.Any(g => kinds.Any(k => g.Contains(k, StringComparison.OrdinalIgnoreCase)));
            })
            .OrderBy(a => Format.Num(a["price_per_hour"]) ?? 0).ToList();
        double? rate = null;
        if (fitting.Count == 0)
            yield return "no online agent fits the job's limits now: it waits in the queue until one does";
        else
        {
            rate = Format.Num(fitting[0]["price_per_hour"]) ?? 0;
            yield return $"rate: {Format.Usd(rate)}/h on the cheapest fitting agent ({Format.Str(fitting[0]["name"])}, {fitting.Count} fit)";
        }
        var maxUsd = Format.Num(body["budget"]?["max_usd"]);
        var maxHours = Format.Num(body["budget"]?["max_hours"]);
        var caps = new List<double>();
        if (maxUsd is { } u) caps.Add(u);
        if (maxHours is { } h && rate is { } r) caps.Add(h * r);
        yield return caps.Count > 0
            ? $"at most {Format.Usd(caps.Min())}: the coordinator checkpoints and stops the job before its budget is crossed"
            : "no budget: spend is not capped (--budget-usd, --max-hours)";
        yield return "the projected total follows once the job reports its throughput (ftl status, or --follow)";
    }

    private static string Indent(string text) => string.Join("\n", text.Trim().Split('\n').Select(l => "  " + l.TrimEnd()));
}
