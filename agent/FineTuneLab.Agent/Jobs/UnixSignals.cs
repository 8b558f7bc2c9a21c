using System.Runtime.InteropServices;

namespace FineTuneLab.Agent.Jobs;

/// <summary>POSIX signals for the trainer child: .NET's Process.Kill only sends SIGKILL.</summary>
internal static partial class UnixSignals
{
    public const int SigKill = 9;
    public const int SigTerm = 15;
    public const int SigCont = 18;
    public const int SigStop = 19;

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);

    /// <summary>Sends a signal; false when the process is already gone.</summary>
    public static bool Send(int pid, int signal) => Kill(pid, signal) == 0;
}
