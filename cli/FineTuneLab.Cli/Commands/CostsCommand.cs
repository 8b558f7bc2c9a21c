using System.CommandLine;
using System.Text.Json.Nodes;
using FineTuneLab.Cli.Output;
using Spectre.Console;
using static FineTuneLab.Cli.Commands.CommandSupport;

namespace FineTuneLab.Cli.Commands;

/// <summary><c>ftl costs [--by day|project|agent|job]</c>: the cost ledger, <c>GET /api/costs?group_by=</c>.</summary>
public static class CostsCommand
{
    public static Command Create()
    {
        var by = new Option<string>("--by") { Description = "Group the spend by day, project, agent or job", DefaultValueFactory = _ => "day" };
        by.AcceptOnlyFromAmong("day", "project", "agent", "job");
        var from = new Option<string?>("--from") { Description = "First UTC day included, YYYY-MM-DD" };
        var to = new Option<string?>("--to") { Description = "Last UTC day included, YYYY-MM-DD" };
        var json = JsonOption();
        var command = new Command("costs", "Show spend by day, project, agent or job") { by, from, to, json };
        command.SetClientAction(async (parse, client, ct) =>
        {
            var answer = await client.GetJsonAsync("api/costs" + Query(("group_by", parse.GetValue(by)), ("from", parse.GetValue(from)), ("to", parse.GetValue(to)), ("format", "json")), ct);
            if (parse.GetValue(json)) { Terminal.Json(answer); return ExitCodes.Ok; }
            var table = new Table().Border(TableBorder.Simple);
            table.AddColumn(parse.GetValue(by)!.ToUpperInvariant());
            if (parse.GetValue(by) is not "day") table.AddColumn("NAME");
            table.AddColumn(new TableColumn("SPENT").RightAligned()).AddColumn(new TableColumn("HOURS").RightAligned()).AddColumn(new TableColumn("JOBS").RightAligned());
            foreach (var r in (answer["rows"] as JsonArray ?? []).OfType<JsonObject>())
            {
                var cells = new List<string> { Format.Or(Format.Str(r["key"])) };
                if (parse.GetValue(by) is not "day") cells.Add(Format.Or(Format.Str(r["label"])));
                cells.AddRange([Format.Usd(Format.Num(r["spent_usd"])), Format.Number(Format.Num(r["hours"]), "0.####"), Format.Number(Format.Num(r["jobs"]), "0")]);
                table.AddRow(cells.Select(c => new Text(c)).ToArray());
            }
            Terminal.Out.Write(table);
            Terminal.Line($"total {Format.Usd(Format.Num(answer["total_usd"]))} over {Format.Number(Format.Num(answer["total_hours"]), "0.####")} h" +
                (Format.Str(answer["from"]) is { } f ? $", from {f}" : "") + (Format.Str(answer["to"]) is { } t ? $" to {t}" : ""));
            return ExitCodes.Ok;
        });
        return command;
    }
}
