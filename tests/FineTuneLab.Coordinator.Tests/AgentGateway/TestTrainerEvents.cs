using System.Text.Json.Nodes;
using FineTuneLab.Events;
using FineTuneLab.Shared.Protos;
using P = FineTuneLab.Shared.Protos.Agent.V1;

namespace FineTuneLab.Coordinator.Tests.AgentGateway;

/// <summary>
/// Typed trainer-event messages for scenario tests that name only the fields they care about: the rest of the event is
/// filled with zeros, then it goes the agent's way (<see cref="EventJson"/> parse, <see cref="TrainerEventMessages.ToMessage"/>).
/// </summary>
internal static class TestTrainerEvents
{
    private static readonly JsonObject Memory = new()
    {
        ["rss_bytes"] = 0, ["peak_rss_bytes"] = 0, ["device_allocated_bytes"] = 0, ["device_reserved_bytes"] = 0, ["device_peak_bytes"] = 0,
    };

    private static readonly Dictionary<string, JsonObject> Defaults = new()
    {
        ["step"] = new() { ["step"] = 0, ["total_steps"] = 0, ["epoch"] = 0, ["loss"] = 0, ["lr"] = 0, ["grad_norm"] = 0, ["tokens_per_s"] = 0, ["samples_per_s"] = 0, ["elapsed_s"] = 0, ["tokens"] = 0 },
        ["eval"] = new() { ["step"] = 0, ["eval_loss"] = 0, ["token_accuracy"] = 0, ["perplexity"] = 0, ["tokens"] = 0 },
        ["checkpoint"] = new() { ["step"] = 0, ["path"] = "checkpoints/0", ["bytes"] = 0, ["sha256"] = "" },
        ["warning"] = new() { ["kind"] = "", ["message"] = "", ["step"] = 0 },
        ["log"] = new() { ["level"] = "info", ["message"] = "" },
        ["done"] = new() { ["reason"] = "completed", ["step"] = 0, ["elapsed_s"] = 0 },
    };

    public static P.TrainerEvent Message(string type, long trainerSeq, JsonObject fields)
    {
        var json = Defaults[type].DeepClone().AsObject();
        if (type == "step") json["memory"] = Memory.DeepClone();
        json["v"] = 1;
        json["seq"] = trainerSeq;
        json["time"] = DateTimeOffset.UtcNow.ToString("O");
        json["type"] = type;
        foreach (var (k, v) in fields) json[k] = v?.DeepClone();
        if (!EventJson.TryParse(json.ToJsonString(), out var e, out var error)) throw new ArgumentException($"test event {type}: {error}");
        return TrainerEventMessages.ToMessage(e);
    }
}
