using System.Text.Json.Nodes;

namespace FineTuneLab.Coordinator.Anomalies;

/// <summary>What the coordinator does when an anomaly of a kind is seen: always an event, and maybe more.</summary>
public enum AnomalyAction
{
    /// <summary>Only the event (the default).</summary>
    Warn,
    /// <summary>The job is paused (SIGSTOP: it holds its memory and its node); a person resumes or stops it.</summary>
    Pause,
    /// <summary>The job checkpoints and stops (stop_reason <c>anomaly</c>); it can be resumed.</summary>
    Stop,
    /// <summary>The job checkpoints and ends failed.</summary>
    Fail,
}

/// <summary>
/// Maps anomaly kinds to actions. A job's own policy (the submission's <c>anomaly_policy</c>) wins over the
/// coordinator's default (<c>--anomaly-policy</c>); <c>*</c> names every kind not listed; an unlisted kind is warn.
/// </summary>
public sealed record AnomalyPolicy(IReadOnlyDictionary<string, AnomalyAction> Actions)
{
    /// <summary>The kinds the trainer raises (warning events) and those the coordinator raises from the streams.</summary>
    public static readonly IReadOnlyList<string> Kinds =
        ["nan_loss", "loss_spike", "loss_stalled", "throughput_drop", AnomalyKinds.GpuInputBound, AnomalyKinds.GpuMemoryNearLimit, AnomalyKinds.Overfitting];

    public static readonly AnomalyPolicy Empty = new(new Dictionary<string, AnomalyAction>());

    public AnomalyAction ActionFor(string kind) =>
        Actions.TryGetValue(kind, out var a) ? a : Actions.TryGetValue("*", out var any) ? any : AnomalyAction.Warn;

    /// <summary>This policy with <paramref name="defaults"/> filling the kinds it does not name.</summary>
    public AnomalyPolicy Over(AnomalyPolicy defaults)
    {
        var merged = new Dictionary<string, AnomalyAction>(defaults.Actions, StringComparer.Ordinal);
        if (Actions.ContainsKey("*")) merged.Clear();
        foreach (var (k, v) in Actions) merged[k] = v;
        return new AnomalyPolicy(merged);
    }

    public JsonObject ToJson() => new(Actions.OrderBy(kv => kv.Key, StringComparer.Ordinal)
        .Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)JsonValue.Create(Name(kv.Value)))));

    public string ToOptionText() => string.Join(",", Actions.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => $"{kv.Key}={Name(kv.Value)}"));

    public static string Name(AnomalyAction a) => a.ToString().ToLowerInvariant();

    /// <summary>Reads <c>kind=action,kind=action</c> (the command-line form); <paramref name="where"/> names it in errors.</summary>
    public static AnomalyPolicy ParseOption(string text, string where)
    {
        var actions = new Dictionary<string, AnomalyAction>(StringComparer.Ordinal);
        foreach (var part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var eq = part.IndexOf('=');
            if (eq <= 0) throw new ArgumentException($"{where}: '{part}' is not kind=action");
            var (kind, action) = (part[..eq].Trim(), part[(eq + 1)..].Trim());
            actions[CheckKind(kind, where)] = ParseAction(action, $"{where} {kind}");
        }
        return new AnomalyPolicy(actions);
    }

    /// <summary>Reads the JSON form <c>{"nan_loss": "pause"}</c>; answers the problems found at <paramref name="path"/>.</summary>
    public static AnomalyPolicy ParseJson(JsonNode? node, string path, List<(string Path, string Message)> problems)
    {
        if (node is null) return Empty;
        if (node is not JsonObject o)
        {
            problems.Add((path, "must be an object mapping an anomaly kind to warn, pause, stop or fail"));
            return Empty;
        }
        var actions = new Dictionary<string, AnomalyAction>(StringComparer.Ordinal);
        foreach (var (kind, value) in o)
        {
            try
            {
                CheckKind(kind, $"{path}.{kind}");
                var text = value is JsonValue v && v.TryGetValue<string>(out var t) ? t : throw new ArgumentException($"{path}.{kind}: must be a string: warn, pause, stop or fail");
                actions[kind] = ParseAction(text, $"{path}.{kind}");
            }
            catch (ArgumentException e)
            {
                problems.Add(($"{path}.{kind}", e.Message));
            }
        }
        return new AnomalyPolicy(actions);
    }

    private static string CheckKind(string kind, string where) =>
        kind == "*" || Kinds.Contains(kind) ? kind
            : throw new ArgumentException($"{where}: unknown anomaly kind '{kind}' (known: {string.Join(", ", Kinds)}, or * for all)");

    private static AnomalyAction ParseAction(string text, string where) => text switch
    {
        "warn" => AnomalyAction.Warn,
        "pause" => AnomalyAction.Pause,
        "stop" => AnomalyAction.Stop,
        "fail" => AnomalyAction.Fail,
        _ => throw new ArgumentException($"{where}: action '{text}' must be warn, pause, stop or fail"),
    };
}

/// <summary>The kinds of anomaly the coordinator itself detects from the streams (the trainer cannot see them).</summary>
public static class AnomalyKinds
{
    public const string GpuInputBound = "gpu_input_bound";
    public const string GpuMemoryNearLimit = "gpu_memory_near_limit";
    public const string Overfitting = "overfitting";
}
