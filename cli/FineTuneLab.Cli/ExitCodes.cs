namespace FineTuneLab.Cli;

/// <summary>What <c>ftl</c> exits with (docs/cli.md): scripts branch on these.</summary>
public static class ExitCodes
{
    public const int Ok = 0;
    /// <summary>The job failed (or ended other than succeeded), or the coordinator refused the call.</summary>
    public const int Failed = 1;
    /// <summary>Bad usage: unknown command or option, missing argument, unreadable job file, no coordinator configured.</summary>
    public const int Usage = 2;
    /// <summary>Ctrl-C while following: detached, the job keeps running (the shell's code for SIGINT).</summary>
    public const int Detached = 130;
}

/// <summary>A mistake in how ftl was called (exit 2).</summary>
public sealed class UsageException(string message) : Exception(message);

/// <summary>Something ftl could not do that is not the coordinator's refusal: a hash mismatch, a job that did not succeed (exit 1).</summary>
public sealed class CliFailure(string message) : Exception(message);
