using System.CommandLine;
using System.Globalization;
using System.Text.Json.Nodes;
using FineTuneLab.Cli.Output;
using Spectre.Console;
using static FineTuneLab.Cli.Commands.CommandSupport;

namespace FineTuneLab.Cli.Commands;

/// <summary>
/// <c>ftl telemetry JOB</c> / <c>ftl telemetry --agent ID</c>: the dashboard's node charts as a table, one row per
/// metric and GPU (host metrics on a node without one): last, lowest, mean and highest reading over the window, and a
/// sparkline of the (downsampled) series.
/// </summary>
public static class TelemetryCommand
{
    private const string Bars = "▁▂▃▄▅▆▇█";

    public static Command Create()
    {
        var job = new Argument<string?>("JOB") { Description = "The job whose node readings to show (while it held the node)", Arity = ArgumentArity.ZeroOrOne };
        var agent = new Option<string?>("--agent") { Description = "An agent's readings instead of a job's (default window: the last hour)" };
        var since = new Option<TimeSpan?>("--since") { Description = "Only readings from this long ago, e.g. 00:10:00 for ten minutes" };
        var metrics = new Option<string?>("--metric") { Description = "Only these metrics, comma-separated (gpu.util, gpu.mem.used, gpu.temp, gpu.power, host.cpu.util, host.mem.available, trainer.rss, ...)" };
        var points = new Option<int>("--points") { Description = "Sparkline width: readings per series, downsampled by the coordinator", DefaultValueFactory = _ => 40 };
        var json = JsonOption();
        var command = new Command("telemetry", "Show a job's or an agent's node telemetry: GPU utilization, memory, temperature, power, host CPU and memory")
            { job, agent, since, metrics, points, json };
        command.SetClientAction(async (parse, client, ct) =>
        {
            var (jobId, agentId) = (parse.GetValue(job), parse.GetValue(agent));
            if ((jobId is null) == (agentId is null)) throw new UsageException("name a JOB or --agent ID (one of them)");
            var path = jobId is not null ? JobPath(jobId, "/telemetry") : $"api/agents/{Uri.EscapeDataString(agentId!)}/telemetry";
            var sinceMs = parse.GetValue(since) is { } s ? DateTimeOffset.UtcNow.Add(-s).ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture) : null;
            var answer = await client.GetJsonAsync(path + Query(("since_ms", sinceMs), ("max_points", Math.Clamp(parse.GetValue(points), 2, 1000).ToString(CultureInfo.InvariantCulture)),
                ("metric", parse.GetValue(metrics))), ct);
            if (parse.GetValue(json)) { Terminal.Json(answer); return ExitCodes.Ok; }

            var gpus = (answer["gpus"] as JsonArray ?? []).OfType<JsonObject>().ToDictionary(g => Format.Int(g["index"]) ?? -1, g => Format.Str(g["name"]) ?? "");
            var table = new Table().Border(TableBorder.Simple);
            foreach (var column in new[] { "METRIC", "ON", "LAST", "MIN", "MEAN", "MAX", "SERIES" }) table.AddColumn(column);
            var series = (answer["series"] as JsonArray ?? []).OfType<JsonObject>().ToList();
            foreach (var row in series)
            {
                var metric = Format.Str(row["metric"]) ?? "?";
                var gpu = Format.Int(row["gpu"]) ?? -1;
                var values = (row["points"] as JsonArray ?? []).OfType<JsonArray>().Select(p => Format.Num(p.Count > 1 ? p[1] : null)).OfType<double>().ToList();
                if (values.Count == 0) continue;
                table.AddRow(metric, gpu < 0 ? "host" : $"GPU {gpu} {gpus.GetValueOrDefault(gpu)}".TrimEnd(),
                    Value(metric, values[^1]), Value(metric, values.Min()), Value(metric, values.Average()), Value(metric, values.Max()), Sparkline(values));
            }
            if (series.Count == 0) Terminal.Line("no readings in this window");
            else Terminal.Out.Write(table);
            return ExitCodes.Ok;
        });
        return command;
    }

    /// <summary>Each reading in the unit its name says (agent.md lists the metrics).</summary>
    private static string Value(string metric, double v) => metric switch
    {
        _ when metric.Contains(".mem.") || metric.EndsWith(".rss", StringComparison.Ordinal) || metric.Contains("disk") => Format.Bytes(v),
        _ when metric.EndsWith(".util", StringComparison.Ordinal) => $"{v:0.#}%",
        _ when metric.EndsWith(".temp", StringComparison.Ordinal) => $"{v:0.#} °C",
        _ when metric.EndsWith(".power", StringComparison.Ordinal) => $"{v:0.#} W",
        _ => Format.Number(v),
    };

    public static string Sparkline(IReadOnlyList<double> values)
    {
        double lo = values.Min(), hi = values.Max();
        return string.Concat(values.Select(v => Bars[hi > lo ? (int)Math.Round((v - lo) / (hi - lo) * (Bars.Length - 1)) : 0]));
    }
}
