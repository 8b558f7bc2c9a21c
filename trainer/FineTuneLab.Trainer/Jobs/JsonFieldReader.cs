using System.Text.Json;

namespace FineTuneLab.Trainer.Jobs;

/// <summary>
/// Reads the fields of one JSON object with their constraints, recording a <see cref="JobSpecError"/> (with the
/// field's path) for each violation instead of throwing, and reports unknown fields — a misspelt option must not
/// be silently ignored.
/// </summary>
internal sealed class JsonFieldReader
{
    private readonly JsonElement _object;
    private readonly string _path;
    private readonly List<JobSpecError> _errors;
    private readonly HashSet<string> _known = new(StringComparer.Ordinal);

    public JsonFieldReader(JsonElement element, string path, List<JobSpecError> errors)
    {
        _path = path;
        _errors = errors;
        IsObject = element.ValueKind == JsonValueKind.Object;
        _object = element;
        if (!IsObject) Error(path, $"must be an object (got {Describe(element)})");
    }

    public bool IsObject { get; }

    public bool Has(string name) => IsObject && _object.TryGetProperty(name, out var v) && v.ValueKind != JsonValueKind.Null;

    public JsonFieldReader? Object(string name, bool required = false)
    {
        if (!TryGet(name, required, out var v)) return null;
        var reader = new JsonFieldReader(v, Child(name), _errors);
        return reader.IsObject ? reader : null;
    }

    public string? String(string name, bool required = false, bool allowEmpty = false)
    {
        if (!TryGet(name, required, out var v)) return null;
        if (v.ValueKind != JsonValueKind.String) return Invalid<string>(name, $"must be a string (got {Describe(v)})");
        var s = v.GetString()!;
        if (!allowEmpty && s.Trim().Length == 0) return Invalid<string>(name, "must not be empty");
        return s;
    }

    public int? Int(string name, int min = int.MinValue, int max = int.MaxValue, bool required = false)
    {
        if (!TryGet(name, required, out var v)) return null;
        if (v.ValueKind != JsonValueKind.Number || !v.TryGetInt64(out var n))
            return Invalid<int?>(name, $"must be an integer (got {Describe(v)})");
        if (n < min || n > max) return Invalid<int?>(name, $"must be {Range(min, max)} (got {n})");
        return (int)n;
    }

    public ulong? UInt64(string name)
    {
        if (!TryGet(name, false, out var v)) return null;
        if (v.ValueKind != JsonValueKind.Number || !v.TryGetUInt64(out var n))
            return Invalid<ulong?>(name, $"must be a non-negative integer (got {Describe(v)})");
        return n;
    }

    public double? Double(string name, double min = double.NegativeInfinity, double max = double.PositiveInfinity,
        bool minExclusive = false, bool required = false)
    {
        if (!TryGet(name, required, out var v)) return null;
        if (v.ValueKind != JsonValueKind.Number || !v.TryGetDouble(out var x) || !double.IsFinite(x))
            return Invalid<double?>(name, $"must be a number (got {Describe(v)})");
        if (x < min || x > max || (minExclusive && x <= min))
        {
            var low = minExclusive ? $"> {min}" : $">= {min}";
            var text = double.IsPositiveInfinity(max) ? $"must be {low}" : $"must be {low} and <= {max}";
            return Invalid<double?>(name, $"{text} (got {x})");
        }
        return x;
    }

    public bool? Bool(string name)
    {
        if (!TryGet(name, false, out var v)) return null;
        if (v.ValueKind is not (JsonValueKind.True or JsonValueKind.False))
            return Invalid<bool?>(name, $"must be true or false (got {Describe(v)})");
        return v.GetBoolean();
    }

    /// <summary>An enum written in snake_case (<c>prompt_completion</c> → PromptCompletion).</summary>
    public T? Enum<T>(string name) where T : struct, System.Enum
    {
        var s = String(name);
        if (s is null) return null;
        foreach (var value in System.Enum.GetValues<T>())
        {
            if (SnakeCase(value.ToString()) == s) return value;
        }
        var allowed = string.Join(", ", System.Enum.GetValues<T>().Select(v => $"\"{SnakeCase(v.ToString())}\""));
        Error(Child(name), $"must be one of {allowed} (got \"{s}\")");
        return null;
    }

    public IReadOnlyList<string>? StringList(string name, bool allowEmptyList = false)
    {
        if (!TryGet(name, false, out var v)) return null;
        if (v.ValueKind != JsonValueKind.Array) return Invalid<IReadOnlyList<string>>(name, $"must be an array of strings (got {Describe(v)})");
        var list = new List<string>();
        var i = 0;
        foreach (var item in v.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.String || item.GetString()!.Trim().Length == 0)
                Error($"{Child(name)}[{i}]", $"must be a non-empty string (got {Describe(item)})");
            else list.Add(item.GetString()!);
            i++;
        }
        if (list.Count == 0 && i == 0 && !allowEmptyList) Error(Child(name), "must not be empty");
        return list;
    }

    public IReadOnlyDictionary<string, string>? StringMap(string name)
    {
        if (!TryGet(name, false, out var v)) return null;
        if (v.ValueKind != JsonValueKind.Object) return Invalid<IReadOnlyDictionary<string, string>>(name, $"must be an object of strings (got {Describe(v)})");
        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var p in v.EnumerateObject())
        {
            if (p.Value.ValueKind != JsonValueKind.String) Error($"{Child(name)}.{p.Name}", $"must be a string (got {Describe(p.Value)})");
            else map[p.Name] = p.Value.GetString()!;
        }
        return map;
    }

    /// <summary>Records an error for a field of this object.</summary>
    public void Error(string path, string message) => _errors.Add(new JobSpecError(path, message));

    public string Child(string name) => $"{_path}.{name}";

    /// <summary>Reports every field that no reader call asked for.</summary>
    public void RejectUnknownFields()
    {
        if (!IsObject) return;
        foreach (var p in _object.EnumerateObject())
        {
            if (_known.Contains(p.Name)) continue;
            var suggestion = _known.OrderBy(k => EditDistance(k, p.Name)).FirstOrDefault();
            var hint = suggestion is not null && EditDistance(suggestion, p.Name) <= Math.Max(2, p.Name.Length / 3)
                ? $" (did you mean \"{suggestion}\"?)" : "";
            Error(Child(p.Name), $"unknown field{hint}");
        }
    }

    private bool TryGet(string name, bool required, out JsonElement value)
    {
        _known.Add(name);
        value = default;
        if (!IsObject) return false;
        if (_object.TryGetProperty(name, out value) && value.ValueKind != JsonValueKind.Null) return true;
        if (required) Error(Child(name), "is required");
        return false;
    }

    private T? Invalid<T>(string name, string message)
    {
        Error(Child(name), message);
        return default;
    }

    private static string Range(int min, int max) =>
        max == int.MaxValue ? $">= {min}" : min == int.MinValue ? $"<= {max}" : $"between {min} and {max}";

    private static string Describe(JsonElement v) => v.ValueKind switch
    {
        JsonValueKind.String => $"\"{v.GetString()}\"",
        JsonValueKind.Number or JsonValueKind.True or JsonValueKind.False => v.GetRawText(),
        JsonValueKind.Array => "an array",
        JsonValueKind.Object => "an object",
        _ => "null",
    };

    internal static string SnakeCase(string pascal)
    {
        var sb = new System.Text.StringBuilder(pascal.Length + 4);
        for (var i = 0; i < pascal.Length; i++)
        {
            var c = pascal[i];
            if (char.IsUpper(c) && i > 0) sb.Append('_');
            sb.Append(char.ToLowerInvariant(c));
        }
        return sb.ToString();
    }

    private static int EditDistance(string a, string b)
    {
        var prev = new int[b.Length + 1];
        var cur = new int[b.Length + 1];
        for (var j = 0; j <= b.Length; j++) prev[j] = j;
        for (var i = 1; i <= a.Length; i++)
        {
            cur[0] = i;
            for (var j = 1; j <= b.Length; j++)
                cur[j] = Math.Min(Math.Min(cur[j - 1] + 1, prev[j] + 1), prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1));
            (prev, cur) = (cur, prev);
        }
        return prev[b.Length];
    }
}
