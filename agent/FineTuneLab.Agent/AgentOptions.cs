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
    IReadOnlyList<string> TrainerCommand,
    TimeSpan? IdleShutdownAfter = null,
    string? IdleShutdownCommand = null)
{
    public string OutboxDir => Path.Combine(DataDir, "outbox");
    public string CacheDir => Path.Combine(DataDir, "cache");
    public string JobsDir => Path.Combine(DataDir, "jobs");
    public string IdentityFile => Path.Combine(DataDir, "identity.json");

    public static IReadOnlyList<string> ResolveTrainer(string? explicitCommand) => FineTuneLab.Shared.Jobs.TrainerCommand.Resolve(explicitCommand, "ftl-agent");
}
