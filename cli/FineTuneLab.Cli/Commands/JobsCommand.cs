using System.CommandLine;
using System.Text.Json.Nodes;
using FineTuneLab.Cli.Output;
using Spectre.Console;
using static FineTuneLab.Cli.Commands.CommandSupport;

namespace FineTuneLab.Cli.Commands;

/// <summary><c>ftl jobs</c>: <c>GET /api/jobs</c> as a table (state, spend against budget, where it runs).</summary>
public static class JobsCommand
{
    public static Command Create()
    {
        var state = new Option<string?>("--state") { Description = "Only jobs in this state: queued, assigned, running, paused, stopping, succeeded, failed, stopped, cancelled" };
        var project = new Option<string?>("--project") { Description = "Only jobs of this project" };
        var search = new Option<string?>("--search", "-q") { Description = "Only jobs whose name contains this text" };
        var limit = new Option<int>("--limit") { Description = "At most this many jobs, newest first", DefaultValueFactory = _ => 50 };
        var ids = new Option<bool>("--ids") { Description = "Print only the job ids, one per line (for scripts)" };
        var json = JsonOption();
        var command = new Command("jobs", "List jobs (newest first) with their state, spend and budget") { state, project, search, limit, ids, json };
        command.SetClientAction(async (parse, client, ct) =>
        {
            var answer = await client.GetJsonAsync("api/jobs" + Query(("state", parse.GetValue(state)), ("project", parse.GetValue(project)),
                ("q", parse.GetValue(search)), ("limit", parse.GetValue(limit).ToString(System.Globalization.CultureInfo.InvariantCulture))), ct);
            if (parse.GetValue(json)) { Terminal.Json(answer); return ExitCodes.Ok; }
            var jobs = answer["jobs"]?.AsArray() ?? [];
            if (parse.GetValue(ids))
            {
                foreach (var j in jobs) Console.Out.WriteLine(Format.Str(j?["id"]));
                return ExitCodes.Ok;
            }
            var table = new Table().Border(TableBorder.Simple);
            foreach (var column in new[] { "ID", "NAME", "PROJECT", "STATE", "CREATED", "SPENT", "BUDGET", "WAITING / AGENT" }) table.AddColumn(column);
            foreach (var j in jobs.OfType<JsonObject>())
                table.AddRow(Cells(j));
            Terminal.Out.Write(table);
            Terminal.Line($"{jobs.Count} of {Format.Int(answer["total"]) ?? jobs.Count} job(s)");
            return ExitCodes.Ok;
        });
        return command;
    }

    private static Text[] Cells(JsonObject j) =>
    [
        new(Format.Or(Format.Str(j["id"]))), new(Format.Or(Format.Str(j["name"]))), new(Format.Or(Format.Str(j["project"]))),
        new(JobText.State(j), JobText.StateStyle(Format.Str(j["state"]))), new(Format.Time(j["created_at"])),
        new(Format.Usd(Format.Num(j["cost"]?["spent_usd"]))), new(JobText.Budget(j["budget"])),
        new(Format.Str(j["waiting_reason"]) ?? Format.Or(Format.Str(j["agent_id"]))),
    ];
}
