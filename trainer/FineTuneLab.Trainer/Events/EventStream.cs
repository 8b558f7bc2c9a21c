using System.Text;
using System.Text.Json;

namespace FineTuneLab.Trainer.Events;

/// <summary>
/// Writes trainer events as JSON lines to stdout (the agent's input) and appends them to DIR/events.jsonl.
/// Every line is flushed as it is written, so a SIGKILL loses at most the line being written; readers of
/// events.jsonl skip a torn last line (see <see cref="ReadLastSeq"/>).
/// </summary>
public sealed class EventStream : IDisposable
{
    private readonly object _gate = new();
    private readonly TextWriter _stdout;
    private readonly FileStream? _file;
    private readonly TimeProvider _clock;
    private long _seq;

    /// <param name="stdout">Where the JSON lines go (Console.Out in the program).</param>
    /// <param name="eventsFile">DIR/events.jsonl, appended to; null to write only to <paramref name="stdout"/>.</param>
    /// <param name="lastSeq">The last seq already written (on resume), so numbering continues.</param>
    public EventStream(TextWriter stdout, string? eventsFile, long lastSeq = 0, TimeProvider? clock = null)
    {
        _stdout = stdout;
        _clock = clock ?? TimeProvider.System;
        _seq = lastSeq;
        if (eventsFile is not null)
            _file = new FileStream(eventsFile, FileMode.Append, FileAccess.Write, FileShare.Read, 1, FileOptions.None);
    }

    public long LastSeq => Interlocked.Read(ref _seq);

    /// <summary>Stamps seq and time on the event, writes it, and returns the stamped event.</summary>
    public TrainerEvent Emit(TrainerEvent e)
    {
        lock (_gate)
        {
            var stamped = e with { Seq = ++_seq, Time = _clock.GetUtcNow() };
            var line = EventJson.Serialize(stamped);
            _stdout.Write(line + "\n");
            _stdout.Flush();
            if (_file is not null)
            {
                _file.Write(Encoding.UTF8.GetBytes(line + "\n"));
                _file.Flush();
            }
            return stamped;
        }
    }

    /// <summary>The highest seq in an existing events.jsonl (0 when absent), skipping a torn last line.</summary>
    public static long ReadLastSeq(string eventsFile)
    {
        if (!File.Exists(eventsFile)) return 0;
        long last = 0;
        foreach (var line in File.ReadLines(eventsFile))
        {
            try
            {
                using var doc = JsonDocument.Parse(line);
                if (doc.RootElement.TryGetProperty("seq", out var seq) && seq.TryGetInt64(out var s)) last = Math.Max(last, s);
            }
            catch (JsonException)
            {
                // A line cut by a kill mid-write: the resumed run rewrites what it stood for.
            }
        }
        return last;
    }

    public void Dispose() => _file?.Dispose();
}
