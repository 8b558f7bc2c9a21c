using System.CommandLine;
using System.Net;
using FineTuneLab.Cli.Api;
using FineTuneLab.Cli.Config;
using FineTuneLab.Cli.Output;
using Spectre.Console;

namespace FineTuneLab.Cli.Commands;

/// <summary>What every command shares: the connection options, <c>--json</c>, and one place that turns failures into exit codes.</summary>
public static class CommandSupport
{
    public static readonly Option<string?> Url = new("--url")
    {
        Description = $"Coordinator URL, e.g. http://127.0.0.1:8080 (default: ${Connection.UrlVariable}, then the saved config)",
        Recursive = true,
    };

    public static readonly Option<string?> Key = new("--key")
    {
        Description = $"API key (the coordinator's --api-key) (default: ${Connection.KeyVariable}, then the saved config)",
        Recursive = true,
    };

    public static Option<bool> JsonOption() => new("--json") { Description = "Print one JSON document (the API's answer) instead of a table" };

    public static Argument<string> JobArgument() => new("JOB") { Description = "The job id (job_…), as `ftl jobs` lists them" };

    /// <summary>Sets a command's action: resolves the connection, runs the body, and maps every failure to its exit code.</summary>
    public static void SetClientAction(this Command command, Func<ParseResult, CoordinatorClient, CancellationToken, Task<int>> body) =>
        command.SetAction((parse, cancellationToken) => Guard(async () =>
        {
            using var client = new CoordinatorClient(Connection.Resolve(parse.GetValue(Url), parse.GetValue(Key)));
            return await body(parse, client, cancellationToken);
        }));

    public static async Task<int> Guard(Func<Task<int>> body)
    {
        try
        {
            return await body();
        }
        catch (UsageException e)
        {
            Terminal.Fail(e.Message);
            return ExitCodes.Usage;
        }
        catch (ApiException e)
        {
            PrintRefusal(e);
            return ExitCodes.Failed;
        }
        catch (CliFailure e)
        {
            Terminal.Fail(e.Message);
            return ExitCodes.Failed;
        }
        catch (OperationCanceledException)
        {
            Terminal.Fail("interrupted");
            return ExitCodes.Detached;
        }
    }

    /// <summary>The coordinator's message and every entry of its field list, as it gave them.</summary>
    public static void PrintRefusal(ApiException e)
    {
        Terminal.Error.MarkupLine($"[red]error:[/] {Markup.Escape(e.Message)} [grey](HTTP {(int)e.Status})[/]");
        foreach (var p in e.Problems)
            Terminal.Error.MarkupLine($"  [red]-[/] {Markup.Escape(p.ToString())}");
        if (e.Status == HttpStatusCode.Unauthorized)
            Terminal.Error.MarkupLine($"  [grey]give the key with `ftl login --url URL --key KEY`, ${Connection.KeyVariable} or --key[/]");
    }

    /// <summary>Query string from the parameters that have a value.</summary>
    public static string Query(params (string Name, string? Value)[] parameters)
    {
        var parts = parameters.Where(p => !string.IsNullOrEmpty(p.Value)).Select(p => $"{p.Name}={Uri.EscapeDataString(p.Value!)}").ToList();
        return parts.Count == 0 ? "" : "?" + string.Join("&", parts);
    }

    public static string JobPath(string jobId, string rest = "") => $"api/jobs/{Uri.EscapeDataString(jobId)}{rest}";
}
