using System.Text.RegularExpressions;
using FineTuneLab.Shared.Jobs;

namespace FineTuneLab.Coordinator.Jobs;

/// <summary>Validates a job spec with <c>ftl-train validate --config</c> (<see cref="TrainerProcess"/>).</summary>
public sealed partial class SpecValidator(IReadOnlyList<string> trainerCommand)
{
    public sealed record Result(bool Valid, string Output, List<Api.FieldProblem> Problems);

    public static IReadOnlyList<string> Resolve(string? explicitCommand) => TrainerCommand.Resolve(explicitCommand, "ftl-coordinator");

    public async Task<Result> ValidateAsync(string specJson, CancellationToken cancellationToken)
    {
        var dir = Directory.CreateTempSubdirectory("ftl-validate-");
        try
        {
            var file = Path.Combine(dir.FullName, "job.json");
            await File.WriteAllTextAsync(file, specJson, cancellationToken);
            var run = await TrainerProcess.RunAsync(trainerCommand, ["validate", "--config", file], cancellationToken);
            var output = (run.Stdout + run.Stderr).Replace(file, "spec", StringComparison.Ordinal);
            var problems = new List<Api.FieldProblem>();
            foreach (Match m in ProblemLine().Matches(output))
                problems.Add(new Api.FieldProblem("$.spec" + m.Groups[3].Value[1..], m.Groups[4].Value.Trim())
                    { Line = int.Parse(m.Groups[1].Value), Column = int.Parse(m.Groups[2].Value) });
            if (run.ExitCode != 0 && problems.Count == 0)
                problems.Add(new Api.FieldProblem("$.spec", output.Trim()));
            return new Result(run.ExitCode == 0, output, problems);
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    [GeneratedRegex(@"line (\d+), column (\d+): (\$[^:]*): (.*)")]
    private static partial Regex ProblemLine();
}
