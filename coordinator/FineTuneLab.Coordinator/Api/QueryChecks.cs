using System.Text.Json;
using System.Text.RegularExpressions;

namespace FineTuneLab.Coordinator.Api;

/// <summary>
/// Query parameters with a bad value answer 400 naming the parameter: a range or a closed set checked here (never
/// clamped or ignored in silence), and a value the binder could not convert (<c>limit=abc</c>) said in the same words
/// (<see cref="BinderMessage"/>).
/// </summary>
public static partial class QueryChecks
{
    /// <summary>The log levels lines are stored with.</summary>
    public static readonly string[] LogLevels = ["debug", "info", "warning", "error"];

    /// <summary>The longest text filter (a name search, a project).</summary>
    public const int MaxTextLength = 200;

    /// <summary>Why <paramref name="value"/> of <paramref name="name"/> is not from <paramref name="min"/> to <paramref name="max"/>, or null.</summary>
    public static string? Range(string name, long? value, long min, long max) =>
        value is { } v && (v < min || v > max) ? $"query parameter '{name}' must be from {min} to {max}, got {v}" : null;

    /// <summary>Why <paramref name="value"/> of <paramref name="name"/> is not one of <paramref name="values"/>, or null.</summary>
    public static string? OneOf(string name, string? value, IReadOnlyCollection<string> values) =>
        value is not null && !values.Contains(value) ? $"query parameter '{name}' must be one of {string.Join(", ", values)}, got '{Shorten(value)}'" : null;

    /// <summary>Why a text filter is too long or holds control characters, or null.</summary>
    public static string? Text(string name, string? value) => value switch
    {
        null => null,
        { Length: > MaxTextLength } => $"query parameter '{name}' is {value.Length} characters long; at most {MaxTextLength} are allowed",
        _ => SafeText.FirstUnsafe(value) is { } bad ? $"query parameter '{name}' must not contain {bad}" : null,
    };

    /// <summary>The first problem of a handler's checks, or null.</summary>
    public static string? First(params string?[] problems) => problems.FirstOrDefault(p => p is not null);

    /// <summary>
    /// The binder's "Failed to bind parameter "long? afterSeq" from "x"." in our words, naming the query parameter as
    /// the wire spells it (after_seq); any other message as it is.
    /// </summary>
    public static string BinderMessage(string message)
    {
        var m = FailedToBind().Match(message);
        if (!m.Success) return message;
        var type = m.Groups["type"].Value.TrimEnd('?');
        if (type.StartsWith("Nullable<", StringComparison.Ordinal)) type = type["Nullable<".Length..^1];
        var expected = type switch
        {
            "int" or "long" or "Int32" or "Int64" => "a whole number",
            "bool" or "Boolean" => "true or false",
            "double" or "Double" => "a number",
            _ => type,
        };
        return $"query parameter '{JsonNamingPolicy.SnakeCaseLower.ConvertName(m.Groups["name"].Value)}' must be {expected}, got '{Shorten(m.Groups["value"].Value)}'";
    }

    private static string Shorten(string s) => s.Length <= 40 ? s : s[..40] + "…";

    [GeneratedRegex("""^Failed to bind parameter "(?<type>[^ "]+) (?<name>[^"]+)" from "(?<value>.*)"\.$""", RegexOptions.Singleline)]
    private static partial Regex FailedToBind();
}
