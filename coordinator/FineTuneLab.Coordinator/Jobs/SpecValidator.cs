using System.Diagnostics;
using System.Text.RegularExpressions;
using FineTuneLab.Shared.Jobs;

namespace FineTuneLab.Coordinator.Jobs;

/// <summary>
/// Validates a job spec with <c>ftl-train validate --config</c> as a child process: the coordinator does not reference
/// the trainer, and the trainer's own parser is the only authority on what a spec may contain.
/// </summary>
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
            var psi = new ProcessStartInfo(trainerCommand[0]) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            foreach (var a in trainerCommand.Skip(1)) psi.ArgumentList.Add(a);
            foreach (var a in new[] { "validate", "--config", file }) psi.ArgumentList.Add(a);
            using var process = Process.Start(psi) ?? throw new InvalidOperationException($"could not start {trainerCommand[0]}");
            var stdout = process.StandardOutput.ReadToEndAsync(cancellationToken);
            var stderr = process.StandardError.ReadToEndAsync(cancellationToken);
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(TimeSpan.FromMinutes(3));
            await process.WaitForExitAsync(timeout.Token);
            var output = (await stdout + await stderr).Replace(file, "spec", StringComparison.Ordinal);
            var problems = new List<Api.FieldProblem>();
            foreach (Match m in ProblemLine().Matches(output))
                problems.Add(new Api.FieldProblem("$.spec" + m.Groups[3].Value[1..], m.Groups[4].Value.Trim())
                    { Line = int.Parse(m.Groups[1].Value), Column = int.Parse(m.Groups[2].Value) });
            if (process.ExitCode != 0 && problems.Count == 0)
                problems.Add(new Api.FieldProblem("$.spec", output.Trim()));
            return new Result(process.ExitCode == 0, output, problems);
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    [GeneratedRegex(@"line (\d+), column (\d+): (\$[^:]*): (.*)")]
    private static partial Regex ProblemLine();
}
