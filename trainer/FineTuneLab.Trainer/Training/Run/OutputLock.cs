namespace FineTuneLab.Trainer.Training.Run;

/// <summary>
/// One trainer per output folder: an exclusive lock on <c>DIR/.lock</c> (flock on Linux, which .NET takes for
/// <see cref="FileShare.None"/>), held for the whole run and released by the kernel when the process dies, however
/// it dies. The holder's pid goes to <c>DIR/.lock.pid</c>: .NET takes a shared flock to read a file, so the locked
/// file itself cannot be read by the run that waits. A second run on the same folder (an agent restarted while its orphaned trainer still finishes its step)
/// waits for the first to let go, so two runs never write one events.jsonl or one checkpoint.
/// </summary>
public sealed class OutputLock : IDisposable
{
    public const string FileName = ".lock";
    public const string PidFileName = ".lock.pid";
    private readonly FileStream _file;

    private OutputLock(FileStream file) => _file = file;

    /// <exception cref="RunRefusedException">The folder stayed locked for <paramref name="wait"/>.</exception>
    public static async Task<OutputLock> AcquireAsync(string folder, TimeSpan wait, Action<string> onWaiting, CancellationToken ct)
    {
        var path = Path.Combine(folder, FileName);
        var deadline = DateTime.UtcNow + wait;
        var told = false;
        while (true)
        {
            try
            {
                var file = new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
                File.WriteAllText(Path.Combine(folder, PidFileName), $"{Environment.ProcessId}\n");
                return new OutputLock(file);
            }
            catch (IOException) when (DateTime.UtcNow < deadline)
            {
                if (!told) onWaiting($"{folder} is in use by another ftl-train (pid {Holder(folder)}); waiting up to {wait.TotalSeconds:0} s for it to finish");
                told = true;
                await Task.Delay(TimeSpan.FromMilliseconds(250), ct);
            }
            catch (IOException e)
            {
                throw new RunRefusedException($"{folder} is in use by another ftl-train (pid {Holder(folder)}) for more than {wait.TotalSeconds:0} s: one output folder takes one run", e);
            }
        }
    }

    /// <summary>The pid the holder wrote.</summary>
    private static string Holder(string folder)
    {
        try { return File.ReadAllText(Path.Combine(folder, PidFileName)).Trim() is { Length: > 0 } pid ? pid : "unknown"; }
        catch (IOException) { return "unknown"; }
    }

    public void Dispose() => _file.Dispose();
}
