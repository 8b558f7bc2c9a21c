using System.Text.RegularExpressions;
using FineTuneLab.TestSupport;

namespace FineTuneLab.Agent.Tests;

/// <summary>Dockerfile.agent checked statically (Docker does not run here): sources exist, stages line up, the entrypoint is the published agent.</summary>
public sealed partial class DockerfileAgentTests
{
    private static readonly string[] Lines = File.ReadAllLines(Path.Combine(RepoPaths.Root, "Dockerfile.agent"))
        .Where(l => !l.TrimStart().StartsWith('#')).ToArray();

    [Fact]
    public void Every_copy_source_from_the_build_context_exists()
    {
        var copies = Lines.Where(l => l.StartsWith("COPY ", StringComparison.Ordinal) && !l.Contains("--from=")).ToList();
        Assert.NotEmpty(copies);
        foreach (var copy in copies)
        {
            var parts = copy.Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1).ToArray();
            foreach (var source in parts[..^1])
                Assert.True(File.Exists(Path.Combine(RepoPaths.Root, source)) || Directory.Exists(Path.Combine(RepoPaths.Root, source)),
                    $"Dockerfile.agent: COPY source '{source}' does not exist in the repository");
        }
    }

    [Fact]
    public void The_entrypoint_is_the_published_agent_and_the_trainer_is_published_beside_it()
    {
        var publishes = PublishLine().Matches(string.Join("\n", Lines)).Select(m => (Project: m.Groups[1].Value, Out: m.Groups[2].Value)).ToList();
        var agent = Assert.Single(publishes, p => p.Project.EndsWith("FineTuneLab.Agent.csproj", StringComparison.Ordinal));
        Assert.Single(publishes, p => p.Project.EndsWith("FineTuneLab.Trainer.Cli.csproj", StringComparison.Ordinal));
        foreach (var (project, _) in publishes)
            Assert.True(File.Exists(Path.Combine(RepoPaths.Root, project)), $"published project {project} does not exist");
        Assert.Contains("<AssemblyName>ftl-agent</AssemblyName>", File.ReadAllText(Path.Combine(RepoPaths.Root, agent.Project)));

        // The runtime stage copies the publish folder to /app/ftl-agent and runs ftl-agent.dll from there.
        Assert.Contains($"COPY --from=build {agent.Out} /app/ftl-agent", Lines);
        Assert.Equal("ENTRYPOINT [\"dotnet\", \"/app/ftl-agent/ftl-agent.dll\"]", Lines.Last(l => l.StartsWith("ENTRYPOINT", StringComparison.Ordinal)));
        Assert.StartsWith("FROM nvidia/cuda:", Lines.Last(l => l.StartsWith("FROM ", StringComparison.Ordinal)));
        Assert.Contains(Lines, l => l.StartsWith("USER ", StringComparison.Ordinal) && !l.Contains("root"));
        Assert.Contains("VOLUME /data", Lines);
    }

    [GeneratedRegex(@"dotnet publish (\S+\.csproj) -c Release -o (\S+)")]
    private static partial Regex PublishLine();
}
