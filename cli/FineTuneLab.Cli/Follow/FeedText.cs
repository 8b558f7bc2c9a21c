using System.Text.Json.Nodes;
using FineTuneLab.Cli.Output;

namespace FineTuneLab.Cli.Follow;

/// <summary>One line a person reads for a feed event (docs/api.md "Job events", docs/trainer-events.md).</summary>
public static class FeedText
{
    /// <summary>Whether an event is a warning: shown as it comes while following.</summary>
    public static bool IsWarning(string type, JsonNode? data) => type switch
    {
        "anomaly" or "budget_alert" or "warning" or "error" or "requeued" => true,
        "log" => Format.Str(data?["level"])?.ToLowerInvariant() is "warning" or "warn" or "error" or "critical" or "fatal",
        _ => false,
    };

    public static string? Describe(string type, JsonNode? d) => type switch
    {
        "state" => $"{Format.Str(d?["from"]) ?? "(new)"} → {Format.Str(d?["to"])}" + (Format.Str(d?["reason"]) is { } r ? $" ({r})" : "") +
                   (Format.Str(d?["by"]) is { } by ? $" by {by}" : "") + (Format.Str(d?["error_message"]) is { } em ? $": {em}" : ""),
        "assigned" => $"assigned to {Format.Str(d?["agent_name"]) ?? Format.Str(d?["agent_id"])}" +
                      (Format.Str(d?["gpu_name"]) is { Length: > 0 } g ? $" ({g})" : "") + $" at {Format.Usd(Format.Num(d?["price_per_hour"]))}/h" +
                      (d?["resume_checkpoint"] is JsonValue rc && rc.TryGetValue<string>(out var c) && c.Length > 0 ? ", resuming from a checkpoint" : ""),
        "requeued" => $"re-queued ({Format.Str(d?["reason"])}), restart {Format.Int(d?["restarts"])} of {Format.Int(d?["max_restarts"])}" +
                      (Format.Str(d?["message"]) is { } m ? $": {m}" : ""),
        "anomaly" => $"anomaly {Format.Str(d?["kind"])}" + (Format.Int(d?["step"]) is { } s ? $" at step {s}" : "") + $": {Format.Str(d?["message"])}" +
                     (Format.Str(d?["action"]) is { } a && a != "warn" ? $" (policy: {a}{(d?["action_taken"] is JsonValue t && t.TryGetValue<bool>(out var taken) && !taken ? ", not applicable now" : "")})" : ""),
        "budget_alert" => Format.Str(d?["message"]) ?? $"budget alert: {d?.ToJsonString()}",
        "warning" => $"trainer warning {Format.Str(d?["kind"])}" + (Format.Int(d?["step"]) is { } s ? $" at step {s}" : "") + $": {Format.Str(d?["message"])}",
        "error" => $"trainer error: {Format.Str(d?["message"])}" + (Format.Str(d?["exception_type"]) is { } x ? $" ({x})" : ""),
        "log" => $"{Format.Str(d?["level"])}: {Format.Str(d?["message"])}",
        "start" => $"trainer started on {Format.Str(d?["device_name"]) ?? Format.Str(d?["device"])}, {Format.Int(d?["total_steps"])} steps" +
                   (Format.Int(d?["resumed_from_step"]) is { } from and > 0 ? $", resumed from step {from}" : "") +
                   (Format.Str(d?["device_note"]) is { } note ? $" ({note})" : ""),
        "checkpoint" => $"checkpoint at step {Format.Int(d?["step"])} ({Format.Bytes(Format.Num(d?["bytes"]))})",
        "eval" => $"eval at step {Format.Int(d?["step"])}: loss {Format.Number(Format.Num(d?["eval_loss"]))}, token accuracy {Format.Number(Format.Num(d?["token_accuracy"]))}",
        "done" => $"trainer done: {Format.Str(d?["reason"])} at step {Format.Int(d?["step"])}",
        "step" => $"step {Format.Int(d?["step"])}/{Format.Int(d?["total_steps"])}: loss {Format.Number(Format.Num(d?["loss"]))}",
        _ => null,
    };
}
