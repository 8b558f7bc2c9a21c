using System.CommandLine;
using System.Text.Json.Nodes;
using FineTuneLab.Cli.Follow;
using FineTuneLab.Cli.Output;
using static FineTuneLab.Cli.Commands.CommandSupport;

namespace FineTuneLab.Cli.Commands;

/// <summary><c>ftl events JOB</c>: the job's feed (<c>GET /api/jobs/{id}/events</c>): state changes, assignments, anomalies, budget alerts, trainer events.</summary>
public static class EventsCommand
{
    public static Command Create()
    {
        var job = JobArgument();
        var type = new Option<string?>("--type") { Description = "Only events of this type, e.g. state, anomaly, budget_alert, checkpoint, step" };
        var json = JsonOption();
        var command = new Command("events", "List a job's events: state changes, assignments, re-queues, anomalies, budget alerts, trainer events") { job, type, json };
        command.SetClientAction(async (parse, client, ct) =>
        {
            var answer = await client.GetJsonAsync(JobPath(parse.GetValue(job)!, "/events") + Query(("type", parse.GetValue(type))), ct);
            if (parse.GetValue(json)) { Terminal.Json(answer); return ExitCodes.Ok; }
            foreach (var e in (answer["events"] as JsonArray ?? []).OfType<JsonObject>())
            {
                var kind = Format.Or(Format.Str(e["type"]));
                var text = FeedText.Describe(kind, e["data"]) ?? e["data"]?.ToJsonString() ?? "";
                Console.Out.WriteLine($"{Format.Time(e["at"])}  {kind,-12} {text}");
            }
            return ExitCodes.Ok;
        });
        return command;
    }
}
