using System.CommandLine;
using System.Text.Json.Nodes;
using FineTuneLab.Cli.Output;
using Spectre.Console;
using static FineTuneLab.Cli.Commands.CommandSupport;

namespace FineTuneLab.Cli.Commands;

/// <summary><c>ftl agents</c>: <c>GET /api/agents</c>, the nodes that run jobs, with their GPUs, price and current job.</summary>
public static class AgentsCommand
{
    public static Command Create()
    {
        var json = JsonOption();
        var command = new Command("agents", "List the agents (nodes): state, provider, price per hour, GPUs, current job") { json };
        command.SetClientAction(async (parse, client, ct) =>
        {
            var agents = await client.GetJsonAsync("api/agents", ct);
            if (parse.GetValue(json)) { Terminal.Json(agents); return ExitCodes.Ok; }
            var table = new Table().Border(TableBorder.Simple);
            foreach (var c in new[] { "ID", "NAME", "STATE", "PROVIDER", "$/H", "GPUS", "JOB", "LAST HEARTBEAT" }) table.AddColumn(c);
            var list = (agents as JsonArray ?? []).OfType<JsonObject>().ToList();
            foreach (var a in list)
            {
                var gpus = (a["gpus"] as JsonArray ?? []).OfType<JsonObject>()
                    .Select(g => $"{Format.Int(g["index"])}: {Format.Str(g["name"])} {Format.Bytes(Format.Num(g["memory_total_bytes"]))}").ToList();
                var state = Format.Or(Format.Str(a["state"]));
                table.AddRow(new Text(Format.Or(Format.Str(a["id"]))), new Text(Format.Or(Format.Str(a["name"]))),
                    new Text(state, state == "online" ? new Style(Color.Green) : new Style(Color.Yellow)), new Text(Format.Or(Format.Str(a["provider"]))),
                    new Text(Format.Usd(Format.Num(a["price_per_hour"]))), new Text(gpus.Count == 0 ? "cpu only" : string.Join("\n", gpus)),
                    new Text(Format.Or(Format.Str(a["current_job_id"]))), new Text(Format.Time(a["last_heartbeat_at"])));
            }
            Terminal.Out.Write(table);
            Terminal.Line($"{list.Count} agent(s), {list.Count(a => Format.Str(a["state"]) == "online")} online");
            return ExitCodes.Ok;
        });
        return command;
    }
}
