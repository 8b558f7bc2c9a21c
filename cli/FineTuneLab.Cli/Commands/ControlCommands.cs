using System.CommandLine;
using System.Text.Json.Nodes;
using FineTuneLab.Cli.Output;
using static FineTuneLab.Cli.Commands.CommandSupport;

namespace FineTuneLab.Cli.Commands;

/// <summary><c>ftl stop|pause|resume|cancel JOB</c>: <c>POST /api/jobs/{id}/{verb}</c>; a command the job's state does not allow is refused (exit 1).</summary>
public static class ControlCommands
{
    public static IEnumerable<Command> Create()
    {
        yield return Verb("stop", "Checkpoint and stop a job (it stays resumable)");
        yield return Verb("pause", "Pause a running job (it keeps its node)");
        yield return Verb("resume", "Resume a paused job, or re-queue a stopped or failed one from its last checkpoint (optionally with a raised budget)", withBudget: true);
        yield return Verb("cancel", "Stop a job without a checkpoint");
    }

    private static Command Verb(string verb, string description, bool withBudget = false)
    {
        var job = JobArgument();
        var json = JsonOption();
        var budgetUsd = new Option<double?>("--budget-usd") { Description = "New spend limit in USD for the resumed run" };
        var maxHours = new Option<double?>("--max-hours") { Description = "New limit in hours for the resumed run" };
        var command = new Command(verb, description) { job, json };
        if (withBudget) { command.Options.Add(budgetUsd); command.Options.Add(maxHours); }
        command.SetClientAction(async (parse, client, ct) =>
        {
            var id = parse.GetValue(job)!;
            JsonObject? body = null;
            if (withBudget && (parse.GetValue(budgetUsd) is not null || parse.GetValue(maxHours) is not null))
                body = new JsonObject { ["budget"] = new JsonObject { ["max_usd"] = parse.GetValue(budgetUsd), ["max_hours"] = parse.GetValue(maxHours) } };
            var answer = await client.SendJsonAsync(HttpMethod.Post, JobPath(id, "/" + verb), body, ct);
            if (parse.GetValue(json)) { Terminal.Json(answer); return ExitCodes.Ok; }
            Terminal.Line($"{verb}: job {id} is {JobText.State(answer)}");
            return ExitCodes.Ok;
        });
        return command;
    }
}
