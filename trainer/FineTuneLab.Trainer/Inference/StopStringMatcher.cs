namespace FineTuneLab.Trainer.Inference;

/// <summary>
/// Streams generated text while watching for stop strings: text that could still become the start of a stop string
/// is held back until it is decided, so a stop string is never printed.
/// </summary>
public sealed class StopStringMatcher(IReadOnlyList<string> stopStrings)
{
    private readonly System.Text.StringBuilder _text = new();
    private int _emitted;

    public bool Stopped { get; private set; }
    /// <summary>All accepted text (up to, not including, a stop string).</summary>
    public string Text => _text.ToString(0, Stopped ? _emitted : _text.Length);

    /// <summary>Adds decoded text; returns what can be shown now.</summary>
    public string Push(string fresh)
    {
        if (Stopped) return "";
        int searchFrom = Math.Max(0, _text.Length - stopStrings.DefaultIfEmpty("").Max(s => s.Length));
        _text.Append(fresh);
        var all = _text.ToString();
        int cut = -1;
        foreach (var stop in stopStrings)
        {
            if (stop.Length == 0) continue;
            int at = all.IndexOf(stop, searchFrom, StringComparison.Ordinal);
            if (at >= 0 && (cut < 0 || at < cut)) cut = at;
        }
        if (cut >= 0)
        {
            Stopped = true;
            var tail = cut > _emitted ? all[_emitted..cut] : "";
            _emitted = Math.Max(_emitted, cut);
            return tail;
        }
        int safe = all.Length - HeldBack(all);
        if (safe <= _emitted) return "";
        var shown = all[_emitted..safe];
        _emitted = safe;
        return shown;
    }

    /// <summary>Emits whatever was held back (generation ended without a stop string).</summary>
    public string Flush()
    {
        if (Stopped) return "";
        var rest = _text.ToString(_emitted, _text.Length - _emitted);
        _emitted = _text.Length;
        return rest;
    }

    /// <summary>Length of the longest suffix of the text that is a proper prefix of some stop string.</summary>
    private int HeldBack(string all)
    {
        int hold = 0;
        foreach (var stop in stopStrings)
            for (int len = Math.Min(stop.Length - 1, all.Length); len > hold; len--)
                if (all.AsSpan(all.Length - len).SequenceEqual(stop.AsSpan(0, len))) { hold = len; break; }
        return hold;
    }
}
