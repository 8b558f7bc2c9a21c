namespace FineTuneLab.Shared.Jobs;

/// <summary>
/// How agent and coordinator find the ftl-train program they run as a child process (the trainer is a separate
/// program by design: neither references it).
/// </summary>
public static class TrainerCommand
{
    /// <summary>
    /// An explicit command (split on spaces), else ftl-train.dll beside the calling program or in a sibling build
    /// folder, else the repository's scripts/ftl-train above it.
    /// </summary>
    public static IReadOnlyList<string> Resolve(string? explicitCommand, string callerName)
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
        throw new InvalidOperationException($"ftl-train not found beside {callerName} nor as scripts/ftl-train; set --trainer-command");
    }
}
