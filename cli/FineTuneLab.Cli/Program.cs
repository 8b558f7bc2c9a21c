using System.CommandLine;
using FineTuneLab.Cli;
using FineTuneLab.Cli.Commands;
using FineTuneLab.Cli.Output;
using Spectre.Console;

// ftl: the command line for the coordinator's REST API (docs/cli.md).
var root = new RootCommand("""
    ftl: the command line for a FineTune Lab coordinator (docs/cli.md).
    Submit and follow fine-tuning jobs, read their logs, control them, download what they made, and see agents and costs.
    The coordinator comes from --url/--key, else FTL_URL/FTL_API_KEY, else `ftl login`'s saved config.
    Exit codes: 0 ok, 1 the job failed or the coordinator refused the call, 2 bad usage, 130 detached with Ctrl-C.
    """);
root.Options.Add(CommandSupport.Url);
root.Options.Add(CommandSupport.Key);
Command[] commands =
[
    LoginCommand.Create(), SubmitCommand.Create(), JobsCommand.Create(), StatusCommand.Create(), LogsCommand.Create(), EventsCommand.Create(),
    .. ControlCommands.Create(), CheckpointsCommand.Create(), CompareCommand.Create(), DownloadCommand.Create(), AgentsCommand.Create(), TelemetryCommand.Create(), CostsCommand.Create(),
];
foreach (var command in commands) root.Subcommands.Add(command);

var parse = root.Parse(args);
if (parse.Errors.Count > 0)
{
    // System.CommandLine answers 1 for these; ftl keeps 1 for a failed job or a refusal, so bad usage is 2.
    foreach (var error in parse.Errors) Terminal.Fail(error.Message);
    Terminal.Error.MarkupLine($"see: [grey]{string.Join(' ', ["ftl", .. CommandPath(parse.CommandResult.Command, root)])} --help[/]");
    return ExitCodes.Usage;
}
return await parse.InvokeAsync();

static IEnumerable<string> CommandPath(Command command, RootCommand root)
{
    var names = new List<string>();
    for (Command? c = command; c is not null && c != root; c = c.Parents.OfType<Command>().FirstOrDefault()) names.Insert(0, c.Name);
    return names;
}
