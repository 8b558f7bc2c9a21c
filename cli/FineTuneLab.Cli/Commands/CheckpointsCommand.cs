using System.CommandLine;
using System.Text.Json.Nodes;
using FineTuneLab.Cli.Output;
using Spectre.Console;
using static FineTuneLab.Cli.Commands.CommandSupport;

namespace FineTuneLab.Cli.Commands;

/// <summary><c>ftl checkpoints JOB</c>: <c>GET /api/jobs/{id}/checkpoints</c>, each with the metrics of its step.</summary>
public static class CheckpointsCommand
{
    public static Command Create()
    {
        var job = JobArgument();
        var json = JsonOption();
        var command = new Command("checkpoints", "List a job's checkpoints with the loss, eval loss and spend at each") { job, json };
        command.SetClientAction(async (parse, client, ct) =>
        {
            var list = await client.GetJsonAsync(JobPath(parse.GetValue(job)!, "/checkpoints"), ct);
            if (parse.GetValue(json)) { Terminal.Json(list); return ExitCodes.Ok; }
            var table = new Table().Border(TableBorder.Simple);
            foreach (var c in new[] { "STEP", "SIZE", "CREATED", "LOSS", "EVAL LOSS", "SPENT", "SHA256" }) table.AddColumn(c);
            foreach (var c in (list as JsonArray ?? []).OfType<JsonObject>())
            {
                var m = c["metrics"];
                table.AddRow(new Text(Format.Number(Format.Num(c["step"]), "0")), new Text(Format.Bytes(Format.Num(c["bytes"]))), new Text(Format.Time(c["created_at"])),
                    new Text(Format.Number(Format.Num(m?["loss"]))), new Text(Format.Number(Format.Num(m?["eval_loss"]))),
                    new Text(Format.Usd(Format.Num(m?["cost_usd"]))), new Text(Format.Or(Format.Str(c["sha256"]))));
            }
            Terminal.Out.Write(table);
            return ExitCodes.Ok;
        });
        return command;
    }
}
