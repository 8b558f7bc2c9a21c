using System.Text.Json.Nodes;
using Spectre.Console;

namespace FineTuneLab.Cli.Output;

/// <summary>How a job's state, budget and failure read, the same in every command.</summary>
public static class JobText
{
    public static readonly string[] TerminalStates = ["succeeded", "failed", "stopped", "cancelled"];

    public static bool IsTerminal(string? state) => state is not null && TerminalStates.Contains(state);

    public static string State(JsonNode job) =>
        Format.Or(Format.Str(job["state"])) + (Format.Str(job["stop_reason"]) is { } r && r != "completed" ? $" ({r})" : "");

    public static Style StateStyle(string? state) => state switch
    {
        "succeeded" => new Style(Color.Green),
        "failed" => new Style(Color.Red),
        "running" or "assigned" => new Style(Color.Aqua),
        "paused" or "stopping" or "stopped" or "cancelled" => new Style(Color.Yellow),
        _ => Style.Plain,
    };

    /// <summary>"$5.00 / 1 h (31%)", or "none".</summary>
    public static string Budget(JsonNode? budget)
    {
        var usd = Format.Num(budget?["max_usd"]);
        var hours = Format.Num(budget?["max_hours"]);
        if (usd is null && hours is null) return "none";
        var limits = string.Join(" / ", new[] { usd is null ? null : Format.Usd(usd), hours is null ? null : $"{Format.Number(hours)} h" }.Where(s => s is not null));
        return Format.Num(budget?["fraction"]) is { } f ? $"{limits} ({f * 100:0}%)" : limits;
    }

    /// <summary>The lines that explain a failed job: message, class, advice (and where the stack trace is).</summary>
    public static IEnumerable<string> Failure(JsonNode job)
    {
        if (job["error"] is not JsonObject e) yield break;
        if (Format.Str(e["message"]) is { } m) yield return m;
        if (Format.Str(e["class"]) is { } c) yield return $"class: {c}";
        if (Format.Str(e["advice"]) is { } a) yield return $"advice: {a}";
        if (Format.Str(e["stack_trace"]) is { } s && s.Length > 0)
            foreach (var line in s.Split('\n').Take(12)) yield return "  " + line.TrimEnd();
    }
}
