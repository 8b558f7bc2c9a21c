using System.Text.Json.Nodes;

namespace FineTuneLab.Cli.Compare;

/// <summary>
/// Jobs' settings side by side, as the dashboard's Compare page shows them: the spec, resources and budget flattened
/// to <c>path: value</c> rows (arrays as their JSON), a row per path any job has, marked where the jobs differ.
/// </summary>
public static class SettingsDiff
{
    public sealed record Row(string Path, IReadOnlyList<string?> Values)
    {
        public bool Differs => Values.Distinct().Count() > 1;
    }

    public static List<Row> Of(IReadOnlyList<JsonNode> jobs)
    {
        var flat = jobs.Select(Flatten).ToList();
        return flat.SelectMany(f => f.Keys).Distinct().Order(StringComparer.Ordinal)
            .Select(path => new Row(path, flat.Select(f => f.GetValueOrDefault(path)).ToList())).ToList();
    }

    private static Dictionary<string, string?> Flatten(JsonNode job)
    {
        var flat = new Dictionary<string, string?>(StringComparer.Ordinal);
        void Walk(string prefix, JsonNode? node)
        {
            if (node is JsonObject o) foreach (var (k, v) in o) Walk($"{prefix}.{k}", v);
            else flat[prefix] = node switch { null => "null", JsonValue v when v.TryGetValue<string>(out var s) => s, _ => node.ToJsonString() };
        }
        Walk("spec", job["spec"]);
        Walk("resources", job["resources"]);
        Walk("budget", new JsonObject { ["max_usd"] = job["budget"]?["max_usd"]?.DeepClone(), ["max_hours"] = job["budget"]?["max_hours"]?.DeepClone() });
        return flat;
    }
}
