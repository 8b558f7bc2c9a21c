using System.CommandLine;
using FineTuneLab.Cli.Api;
using FineTuneLab.Cli.Config;
using FineTuneLab.Cli.Output;
using static FineTuneLab.Cli.Commands.CommandSupport;

namespace FineTuneLab.Cli.Commands;

/// <summary>
/// <c>ftl login --url URL [--key KEY]</c>: checks that the coordinator answers with that key, then saves both to the
/// user's config (mode 0600) for later calls.
/// </summary>
public static class LoginCommand
{
    public static Command Create()
    {
        var command = new Command("login", $"Check and save the coordinator URL and API key to {ShownPath()} (mode 0600)");
        command.SetAction((parse, ct) => Guard(async () =>
        {
            var url = parse.GetValue(Url) ?? Environment.GetEnvironmentVariable(Connection.UrlVariable)
                ?? throw new UsageException("ftl login needs --url URL (the coordinator's --http-url)");
            var key = parse.GetValue(Key) ?? Environment.GetEnvironmentVariable(Connection.KeyVariable);
            var connection = new Connection(Connection.ParseUrl(url), string.IsNullOrWhiteSpace(key) ? null : key);
            using (var client = new CoordinatorClient(connection))
                await client.GetJsonAsync("api/jobs?limit=1", ct); // refused (401) or unreachable: nothing is saved
            new CliConfig(connection.Url.ToString().TrimEnd('/'), connection.ApiKey).Save();
            Terminal.Line($"logged in to {connection.Url} ({(connection.ApiKey is null ? "no API key" : "with an API key")}); saved to {CliConfig.FilePath}");
            return ExitCodes.Ok;
        }));
        return command;
    }

    private static string ShownPath() => "$XDG_CONFIG_HOME/ftl/config.json";
}
