using System.Text.Json.Nodes;

namespace FineTuneLab.Shared.Jobs;

/// <summary>
/// A job spec's <c>artifact:&lt;sha256&gt;</c> references: the coordinator holds the bytes, and whoever runs the
/// trainer on them (the agent for a run, the coordinator for a plan) rewrites each reference to a local path.
/// </summary>
public static class SpecArtifacts
{
    public const string Prefix = "artifact:";

    /// <summary>
    /// A copy of <paramref name="spec"/> with every string <c>artifact:SHA</c> replaced by <paramref name="localPath"/>(SHA);
    /// a reference it answers null for is left as it is (the caller may throw instead).
    /// </summary>
    public static JsonNode Rewrite(JsonNode spec, Func<string, string?> localPath) => spec switch
    {
        JsonObject o => new JsonObject(o.Select(kv => KeyValuePair.Create(kv.Key, kv.Value is null ? null : Rewrite(kv.Value, localPath)))),
        JsonArray a => new JsonArray(a.Select(v => v is null ? null : Rewrite(v, localPath)).ToArray()),
        JsonValue v when v.TryGetValue<string>(out var s) && s.StartsWith(Prefix, StringComparison.Ordinal) && localPath(s[Prefix.Length..]) is { } path =>
            JsonValue.Create(path),
        _ => spec.DeepClone(),
    };
}
