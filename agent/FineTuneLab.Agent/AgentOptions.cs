namespace FineTuneLab.Agent;

/// <summary>How the agent was asked to run: command line, else FTL_AGENT_* environment variables, else the JSON config file.</summary>
public sealed record AgentOptions(
    Uri Coordinator,
    string JoinToken,
    string DataDir,
    string Name,
    string Provider,
    double PricePerHour,
    string Device,
    IReadOnlyList<string> TrainerCommand)
{
    public string OutboxDir => Path.Combine(DataDir, "outbox");
    public string CacheDir => Path.Combine(DataDir, "cache");
    public string JobsDir => Path.Combine(DataDir, "jobs");
    public string IdentityFile => Path.Combine(DataDir, "identity.json");

    /// <summary>The trainer command: explicit (split on spaces), else ftl-train.dll beside the agent or in the repo build, else scripts/ftl-train.</summary>
    public static IReadOnlyList<string> ResolveTrainer(string? explicitCommand)
    {
        if (!string.IsNullOrWhiteSpace(explicitCommand))
            return explicitCommand.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        foreach (var candidate in new[]
                 {
                     Path.Combine(AppContext.BaseDirectory, "ftl-train.dll"),
                     Path.Combine(AppContext.BaseDirectory, "..", "ftl-train", "ftl-train.dll"),
                 })
        {
            if (File.Exists(candidate)) return ["dotnet", Path.GetFullPath(candidate)];
        }
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var script = Path.Combine(dir.FullName, "scripts", "ftl-train");
            if (File.Exists(script)) return [script];
        }
        throw new InvalidOperationException("ftl-train not found beside ftl-agent nor as scripts/ftl-train; set --trainer-command");
    }
}
