using System.Runtime.InteropServices;

namespace FineTuneLab.Trainer.Training;

/// <summary>
/// The trainer's stop contract: SIGTERM, SIGINT or a line <c>stop</c> on stdin asks the run to finish its current
/// step, write a checkpoint, emit <c>done</c> (reason stopped) and exit 0. The request is only a flag the training
/// loop reads between steps: nothing is interrupted halfway.
/// </summary>
public sealed class StopRequest : IDisposable
{
    private readonly CancellationTokenSource _requested = new();
    private readonly List<PosixSignalRegistration> _registrations = [];

    public bool IsRequested => _requested.IsCancellationRequested;

    /// <summary>Fires when a stop is requested (for waits that should end early, like a paused data loader).</summary>
    public CancellationToken Token => _requested.Token;

    public string? Reason { get; private set; }

    public void Request(string reason)
    {
        Reason ??= reason;
        _requested.Cancel();
    }

    /// <summary>Listens for SIGTERM and SIGINT, and for a "stop" line on <paramref name="stdin"/> when given.</summary>
    /// <param name="stopAtEndOfInput">Also stop when stdin ends: a parent that holds the trainer's stdin (the agent)
    /// closes it by dying, SIGKILL included, so an orphaned run checkpoints and exits instead of training on alone.</param>
    public static StopRequest Listen(TextReader? stdin, bool stopAtEndOfInput = false)
    {
        var stop = new StopRequest();
        foreach (var signal in new[] { PosixSignal.SIGTERM, PosixSignal.SIGINT })
        {
            stop._registrations.Add(PosixSignalRegistration.Create(signal, context =>
            {
                context.Cancel = true; // keep the process alive: the loop checkpoints and exits by itself
                stop.Request(signal.ToString());
            }));
        }
        if (stdin is not null)
        {
            var reader = new Thread(() =>
            {
                try
                {
                    while (stdin.ReadLine() is { } line)
                    {
                        if (line.Trim().Equals("stop", StringComparison.OrdinalIgnoreCase)) { stop.Request("stdin"); return; }
                    }
                    if (stopAtEndOfInput) stop.Request("stdin closed (the parent process is gone)");
                }
                catch (Exception e) when (e is IOException or ObjectDisposedException) { }
            }) { IsBackground = true, Name = "stdin stop listener" };
            reader.Start();
        }
        return stop;
    }

    public void Dispose()
    {
        foreach (var r in _registrations) r.Dispose();
        _requested.Dispose();
    }
}
