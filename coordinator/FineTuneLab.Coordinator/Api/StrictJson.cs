using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace FineTuneLab.Coordinator.Api;

/// <summary>
/// What a JSON body may hold, field by field: the type, range and length of each value and the names an object
/// knows. <see cref="Check"/> walks a parsed body against it and lists every problem with its JSON path (all of
/// them, not the first), an unknown field with the nearest known name as a suggestion. Every field is optional
/// here (null counts as absent); a handler says which ones it needs.
/// </summary>
public abstract record JsonShape
{
    /// <summary>A string of at most <paramref name="maxLength"/> characters, without control or bidi characters; one of <paramref name="oneOf"/> when given.</summary>
    public static JsonShape Text(int maxLength, params string[] oneOf) => new TextShape(maxLength, oneOf);

    /// <summary>A finite number from <paramref name="min"/> to <paramref name="max"/> (above <paramref name="min"/> when <paramref name="minExclusive"/>).</summary>
    public static JsonShape Number(double min, double max, bool minExclusive = false) => new NumberShape(min, max, minExclusive, WholeOnly: false);

    public static JsonShape Integer(long min, long max) => new NumberShape(min, max, false, WholeOnly: true);

    public static JsonShape Array(JsonShape items, int maxItems) => new ArrayShape(items, maxItems);

    public static JsonShape Object(params (string Name, JsonShape Shape)[] fields) =>
        new ObjectShape(fields.ToDictionary(f => f.Name, f => f.Shape, StringComparer.Ordinal), []);

    /// <summary>
    /// This object shape with names a client may reach for instead of a field (<c>max_dollars</c> for <c>max_usd</c>):
    /// still refused, but the suggestion then finds the field a slip of the alias is meant as.
    /// </summary>
    public JsonShape WithAliases(params (string Alias, string Field)[] aliases) => this is ObjectShape o
        ? o with { Aliases = aliases.ToDictionary(a => a.Alias, a => a.Field, StringComparer.Ordinal) }
        : throw new InvalidOperationException("only an object shape has field aliases");

    /// <summary>An object whose members another check owns (the trainer's spec: <c>ftl-train validate</c>; an anomaly policy: its parser).</summary>
    public static readonly JsonShape CheckedElsewhere = new OpaqueObjectShape();

    /// <summary>The problems of <paramref name="node"/> against this shape, appended to <paramref name="problems"/>.</summary>
    public void Check(JsonNode? node, string path, List<FieldProblem> problems)
    {
        if (node is null) return;
        CheckPresent(node, path, problems);
    }

    private protected abstract void CheckPresent(JsonNode node, string path, List<FieldProblem> problems);

    private protected static string KindOf(JsonNode node) => node.GetValueKind() switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        _ => "null",
    };

    private sealed record TextShape(int MaxLength, string[] OneOf) : JsonShape
    {
        private protected override void CheckPresent(JsonNode node, string path, List<FieldProblem> problems)
        {
            if (node.GetValueKind() != JsonValueKind.String)
            {
                problems.Add(new FieldProblem(path, $"must be a string, got {KindOf(node)}"));
                return;
            }
            var text = node.GetValue<string>();
            if (OneOf.Length > 0)
            {
                if (!OneOf.Contains(text, StringComparer.Ordinal)) problems.Add(new FieldProblem(path, $"must be one of {string.Join(", ", OneOf)} (got '{Shorten(text)}')"));
                return;
            }
            if (text.Length > MaxLength) problems.Add(new FieldProblem(path, $"is {text.Length} characters long; at most {MaxLength} are allowed"));
            if (SafeText.FirstUnsafe(text) is { } bad) problems.Add(new FieldProblem(path, $"must not contain {bad}"));
        }
    }

    private sealed record NumberShape(double Min, double Max, bool MinExclusive, bool WholeOnly) : JsonShape
    {
        private protected override void CheckPresent(JsonNode node, string path, List<FieldProblem> problems)
        {
            var what = WholeOnly ? "a whole number" : "a number";
            if (node.GetValueKind() != JsonValueKind.Number)
            {
                problems.Add(new FieldProblem(path, $"must be {what}, got {KindOf(node)}"));
                return;
            }
            // A literal past double's range does not parse as a finite double: it is out of range like any other.
            var ok = node.AsValue().TryGetValue<double>(out var value) && double.IsFinite(value);
            if (ok && WholeOnly && value != Math.Floor(value))
            {
                problems.Add(new FieldProblem(path, $"must be a whole number, got {Format(value)}"));
                return;
            }
            if (!ok || value > Max || (MinExclusive ? value <= Min : value < Min))
                problems.Add(new FieldProblem(path, $"must be {(MinExclusive ? "above" : "at least")} {Format(Min)} and at most {Format(Max)}, got {Shorten(node.ToJsonString())}"));
        }

        private static string Format(double v) => v.ToString("R", CultureInfo.InvariantCulture);
    }

    private sealed record ArrayShape(JsonShape Items, int MaxItems) : JsonShape
    {
        private protected override void CheckPresent(JsonNode node, string path, List<FieldProblem> problems)
        {
            if (node is not JsonArray array)
            {
                problems.Add(new FieldProblem(path, $"must be an array, got {KindOf(node)}"));
                return;
            }
            if (array.Count > MaxItems) problems.Add(new FieldProblem(path, $"has {array.Count} items; at most {MaxItems} are allowed"));
            for (var i = 0; i < Math.Min(array.Count, MaxItems); i++)
            {
                if (array[i] is null) problems.Add(new FieldProblem($"{path}[{i}]", "must not be null"));
                else Items.CheckPresent(array[i]!, $"{path}[{i}]", problems);
            }
        }
    }

    private sealed record ObjectShape(Dictionary<string, JsonShape> Fields, Dictionary<string, string> Aliases) : JsonShape
    {
        private protected override void CheckPresent(JsonNode node, string path, List<FieldProblem> problems)
        {
            if (node is not JsonObject o)
            {
                problems.Add(new FieldProblem(path, $"must be an object, got {KindOf(node)}"));
                return;
            }
            foreach (var (name, value) in o)
            {
                if (Fields.TryGetValue(name, out var shape)) shape.Check(value, $"{path}.{name}", problems);
                else problems.Add(new FieldProblem($"{path}.{name}", UnknownField(name, Fields.Keys, Aliases)));
            }
        }
    }

    private sealed record OpaqueObjectShape : JsonShape
    {
        private protected override void CheckPresent(JsonNode node, string path, List<FieldProblem> problems)
        {
            if (node is not JsonObject) problems.Add(new FieldProblem(path, $"must be an object, got {KindOf(node)}"));
        }
    }

    /// <summary>
    /// "unknown field", with the known name nearest by edit distance (a known name's alias counting as that name) when
    /// it is near enough to be a slip.
    /// </summary>
    public static string UnknownField(string name, IReadOnlyCollection<string> known, IReadOnlyDictionary<string, string>? aliases = null)
    {
        var candidates = known.Select(k => (Spelling: k, Field: k)).Concat((aliases ?? new Dictionary<string, string>()).Select(a => (Spelling: a.Key, Field: a.Value)));
        var best = candidates.Select(c => (c.Spelling, c.Field, Distance: EditDistance(name.ToLowerInvariant(), c.Spelling)))
            .OrderBy(c => c.Distance).FirstOrDefault();
        var nearEnough = best.Field is not null && best.Distance <= Math.Max(2, best.Spelling.Length / 3);
        return nearEnough ? $"unknown field; did you mean {best.Field}?" : $"unknown field (known: {string.Join(", ", known)})";
    }

    /// <summary>Levenshtein distance (insert, delete, substitute), two rows.</summary>
    public static int EditDistance(string a, string b)
    {
        var previous = new int[b.Length + 1];
        var current = new int[b.Length + 1];
        for (var j = 0; j <= b.Length; j++) previous[j] = j;
        for (var i = 1; i <= a.Length; i++)
        {
            current[0] = i;
            for (var j = 1; j <= b.Length; j++)
                current[j] = Math.Min(Math.Min(current[j - 1] + 1, previous[j] + 1), previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1));
            (previous, current) = (current, previous);
        }
        return previous[b.Length];
    }

    private static string Shorten(string s) => s.Length <= 40 ? s : s[..40] + "…";
}

/// <summary>Names and labels that end up in logs, file names and the dashboard: no control, bidi or line-break characters.</summary>
public static class SafeText
{
    /// <summary>The first character <paramref name="text"/> must not hold, described (e.g. "a control character U+000A"), or null.</summary>
    public static string? FirstUnsafe(string text)
    {
        foreach (var c in text)
        {
            if (char.IsControl(c)) return $"a control character (U+{(int)c:X4})";
            // Bidi embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069) and the marks U+200E/U+200F
            // can make a name read as something else (evil\u202Egpj.exe).
            if (c is >= '\u202A' and <= '\u202E' or >= '\u2066' and <= '\u2069' or '\u200E' or '\u200F' or '\u061C')
                return $"a bidirectional control character (U+{(int)c:X4})";
            if (c is '\u2028' or '\u2029') return $"a line separator (U+{(int)c:X4})";
        }
        return null;
    }
}
