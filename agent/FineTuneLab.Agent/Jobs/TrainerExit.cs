namespace FineTuneLab.Agent.Jobs;

/// <summary>How a trainer process ended, with the last error it reported on its event stream.</summary>
public sealed record TrainerExit(int ExitCode, int Signal, string? DoneReason, string? ErrorMessage, string? StackTrace)
{
    /// <summary>
    /// .NET reports a process killed by signal N as exit code 128 + N (the shell convention), which is also what a
    /// trainer that exits by itself cannot produce in our contract, so the two are told apart here.
    /// </summary>
    public static (int ExitCode, int Signal) Decode(int exitCode) =>
        exitCode > 128 && exitCode < 128 + 65 ? (exitCode, exitCode - 128) : (exitCode, 0);

    public bool Succeeded => ExitCode == 0 && Signal == 0 && DoneReason == "completed";
}
