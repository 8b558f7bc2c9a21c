using System.CommandLine;
using System.Text.Json.Nodes;
using FineTuneLab.Cli.Compare;
using FineTuneLab.Cli.Output;
using Spectre.Console;
using static FineTuneLab.Cli.Commands.CommandSupport;

namespace FineTuneLab.Cli.Commands;

/// <summary>
/// <c>ftl compare JOB JOB [JOB JOB]</c>: the dashboard's Compare page in a terminal. Two to four runs side by side:
/// outcome (losses, speed, cost), eval loss at the steps they share, and the settings that differ.
/// </summary>
public static class CompareCommand
{
    private const int Most = 4;

    public static Command Create()
    {
        var jobs = new Argument<string[]>("JOB") { Description = $"Two to {Most} job ids", Arity = new ArgumentArity(2, Most) };
        var all = new Option<bool>("--all") { Description = "Show every setting, not only those that differ" };
        var json = new Option<bool>("--json") { Description = "Print one JSON document: {jobs: [summary], eval_loss: [{step, values}], settings: [{path, values, differs}]}" };
        var command = new Command("compare", $"Compare two to {Most} runs: losses, speed, cost, and the settings that differ") { jobs, all, json };
        command.SetClientAction(async (parse, client, ct) =>
        {
            var ids = parse.GetValue(jobs)!;
            if (ids.Distinct(StringComparer.Ordinal).Count() != ids.Length) throw new UsageException("a job is named twice");
            var details = await Task.WhenAll(ids.Select(id => client.GetJsonAsync(JobPath(id), ct)));
            var metrics = await Task.WhenAll(ids.Select(id => client.GetJsonAsync(JobPath(id, "/metrics?format=json"), ct)));
            var runs = details.Zip(metrics, RunSummary.From).ToList();
            var settings = SettingsDiff.Of(details).Where(r => parse.GetValue(all) || r.Differs).ToList();
            var sharedEvals = runs.Select(r => r.EvalLossByStep.Keys).Aggregate((a, b) => a.Intersect(b)).Order().ToList();

            if (parse.GetValue(json))
            {
                Terminal.Json(new JsonObject
                {
                    ["jobs"] = new JsonArray(runs.Select(r => (JsonNode)r.ToJson()).ToArray()),
                    ["eval_loss"] = new JsonArray(sharedEvals.Select(s => (JsonNode)new JsonObject
                        { ["step"] = s, ["values"] = new JsonArray(runs.Select(r => (JsonNode?)r.EvalLossByStep[s]).ToArray()) }).ToArray()),
                    ["settings"] = new JsonArray(settings.Select(r => (JsonNode)new JsonObject
                        { ["path"] = r.Path, ["values"] = new JsonArray(r.Values.Select(v => (JsonNode?)v).ToArray()), ["differs"] = r.Differs }).ToArray()),
                });
                return ExitCodes.Ok;
            }
            Terminal.Out.Write(Outcomes(runs));
            if (sharedEvals.Count > 0) Terminal.Out.Write(EvalLosses(runs, sharedEvals));
            Terminal.Out.Write(Settings(runs, settings, parse.GetValue(all)));
            return ExitCodes.Ok;
        });
        return command;
    }

    private static Table Outcomes(IReadOnlyList<RunSummary> runs)
    {
        var table = Columns(runs, "");
        void Row(string name, Func<RunSummary, string> value) => table.AddRow([new Text(name, new Style(Color.Grey)), .. runs.Select(r => new Text(value(r)))]);
        Row("state", r => r.State);
        Row("method", r => r.Method);
        Row("model", r => Format.Or(r.Model));
        Row("steps", r => $"{Format.Number(r.Steps)}/{Format.Number(r.TotalSteps)}");
        Row("final loss", r => Format.Number(r.FinalLoss));
        Row("best eval loss", r => r.BestEvalLoss is { } l ? $"{Format.Number(l)} (step {r.BestEvalStep})" : "-");
        Row("last eval loss", r => Format.Number(r.LastEvalLoss));
        Row("tokens/s (median)", r => Format.Number(r.MedianTokensPerSecond, "#,0"));
        Row("spent", r => Format.Usd(r.SpentUsd));
        Row("projected / final", r => Format.Usd(r.ProjectedUsd));
        Row("hours", r => Format.Number(r.Hours));
        return table;
    }

    private static Table EvalLosses(IReadOnlyList<RunSummary> runs, IReadOnlyList<long> steps)
    {
        var table = Columns(runs, "eval loss at step");
        foreach (var step in steps)
        {
            var best = runs.Min(r => r.EvalLossByStep[step]);
            table.AddRow([new Text(step.ToString(System.Globalization.CultureInfo.InvariantCulture), new Style(Color.Grey)),
                .. runs.Select(r => new Text(Format.Number(r.EvalLossByStep[step]), r.EvalLossByStep[step] == best && runs.Count > 1 ? new Style(Color.Green) : Style.Plain))]);
        }
        return table;
    }

    private static Table Settings(IReadOnlyList<RunSummary> runs, IReadOnlyList<SettingsDiff.Row> rows, bool all)
    {
        var table = Columns(runs, all ? "setting (≠ differs)" : "settings that differ");
        foreach (var row in rows)
            table.AddRow([new Text(row.Path + (all && row.Differs ? " ≠" : ""), new Style(row.Differs ? Color.Yellow : Color.Grey)), .. row.Values.Select(v => new Text(v ?? "—"))]);
        if (rows.Count == 0) table.AddRow([new Text("(none: the runs have the same settings)", new Style(Color.Grey)), .. runs.Select(_ => new Text(""))]);
        return table;
    }

    private static Table Columns(IReadOnlyList<RunSummary> runs, string first)
    {
        var table = new Table().Border(TableBorder.Simple).AddColumn(first);
        foreach (var r in runs) table.AddColumn($"{Markup.Escape(r.Name)}\n[grey]{Markup.Escape(r.Id)}[/]");
        return table;
    }
}
