using FineTuneLab.TestSupport;

namespace FineTuneLab.Cli.Tests;

/// <summary>Runs the real <c>ftl</c> through scripts/ftl, against a given coordinator, with its own empty config folder.</summary>
public sealed class FtlProcess(string url, string? apiKey, string configHome)
{
    public static string Wrapper => Path.Combine(RepoPaths.Scripts, "ftl");

    public string Url { get; } = url;
    public string ConfigHome { get; } = configHome;

    public Dictionary<string, string> Environment(bool withConnection = true) => new()
    {
        ["FTL_URL"] = withConnection ? Url : "",
        ["FTL_API_KEY"] = withConnection ? apiKey ?? "" : "",
        ["XDG_CONFIG_HOME"] = ConfigHome,
        ["NO_COLOR"] = "1",
    };

    public Task<ExternalProcess.Result> RunAsync(params string[] args) => RunAsync(args, Environment(), null);

    public Task<ExternalProcess.Result> RunAsync(IEnumerable<string> args, Dictionary<string, string> environment, string? workingDirectory,
        TimeSpan? timeout = null) =>
        ExternalProcess.RunAsync(Wrapper, args, workingDirectory, environment: environment, timeout: timeout ?? TimeSpan.FromMinutes(2));

    /// <summary>Builds ftl now (first use of the wrapper), so no test's time limit pays for it.</summary>
    public static async Task BuildAsync()
    {
        var r = await ExternalProcess.RunAsync(Wrapper, ["--help"], timeout: TimeSpan.FromMinutes(10));
        r.EnsureSuccess("scripts/ftl --help (building ftl)");
    }
}
