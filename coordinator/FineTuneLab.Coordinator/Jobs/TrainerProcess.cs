using System.Diagnostics;

namespace FineTuneLab.Coordinator.Jobs;

/// <summary>
/// Runs <c>ftl-train</c> as a child process for the checks the coordinator delegates to the trainer (validate, plan):
/// the coordinator does not reference the trainer, and the trainer is the only authority on specs and plans.
/// </summary>
public static class TrainerProcess
{
    public sealed record Output(int ExitCode, string Stdout, string Stderr);

    public static async Task<Output> RunAsync(IReadOnlyList<string> trainerCommand, IEnumerable<string> arguments, CancellationToken cancellationToken)
    {
        var psi = new ProcessStartInfo(trainerCommand[0]) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in trainerCommand.Skip(1).Concat(arguments)) psi.ArgumentList.Add(a);
        using var process = Process.Start(psi) ?? throw new InvalidOperationException($"could not start {trainerCommand[0]}");
        var stdout = process.StandardOutput.ReadToEndAsync(cancellationToken);
        var stderr = process.StandardError.ReadToEndAsync(cancellationToken);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromMinutes(3));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }
        return new Output(process.ExitCode, await stdout, await stderr);
    }
}
