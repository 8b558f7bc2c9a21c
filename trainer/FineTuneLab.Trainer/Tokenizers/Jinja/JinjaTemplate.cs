using System.Collections;
using System.Text.Json;

namespace FineTuneLab.Trainer.Tokenizers.Jinja;

/// <summary>
/// A parsed Jinja2 template, rendered in the environment transformers' <c>apply_chat_template</c> uses:
/// trim_blocks, lstrip_blocks, loop controls, a sandbox that refuses mutation, default Undefined, and the globals
/// <c>raise_exception</c>, <c>strftime_now</c>, <c>range</c>, <c>namespace</c>, <c>dict</c>.
/// </summary>
public sealed class JinjaTemplate
{
    private readonly IReadOnlyList<Stmt> _body;

    private JinjaTemplate(IReadOnlyList<Stmt> body) => _body = body;

    /// <exception cref="JinjaSyntaxException">The source is malformed or uses an unsupported construct (with line and column).</exception>
    public static JinjaTemplate Parse(string source) => new(TemplateParser.Parse(source));

    /// <param name="variables">Plain .NET values (string, bool, integers, double, null, dictionaries with string keys,
    /// lists, <see cref="JsonElement"/>); they are converted to the template's Python-like values.</param>
    /// <param name="clock">What <c>strftime_now</c> reads (local time by default, like transformers).</param>
    public string Render(IReadOnlyDictionary<string, object?> variables, Func<DateTime>? clock = null)
    {
        var converted = new Dictionary<string, object?>(StringComparer.Ordinal);
        foreach (var (k, v) in variables) converted[k] = ToTemplateValue(v);
        return new Renderer(clock ?? (() => DateTime.Now)).Render(_body, converted);
    }

    internal static object? ToTemplateValue(object? value) => value switch
    {
        null => null,
        string or bool or long or double => value,
        int i => (long)i,
        float f => (double)f,
        decimal m => (double)m,
        JsonElement e => FromJson(e),
        IDictionary<string, object?> d => ToDict(d.Select(kv => (kv.Key, kv.Value))),
        IReadOnlyDictionary<string, object?> d => ToDict(d.Select(kv => (kv.Key, kv.Value))),
        IDictionary<string, string> d => ToDict(d.Select(kv => (kv.Key, (object?)kv.Value))),
        IEnumerable e => e.Cast<object?>().Select(ToTemplateValue).ToList(),
        _ => throw new ArgumentException($"a template variable cannot be a {value.GetType().Name}"),
    };

    private static OrderedDictionary<string, object?> ToDict(IEnumerable<(string Key, object? Value)> pairs)
    {
        var d = new OrderedDictionary<string, object?>(StringComparer.Ordinal);
        foreach (var (k, v) in pairs) d[k] = ToTemplateValue(v);
        return d;
    }

    private static OrderedDictionary<string, object?> JsonObject(JsonElement e)
    {
        var d = new OrderedDictionary<string, object?>(StringComparer.Ordinal);
        foreach (var p in e.EnumerateObject()) d[p.Name] = FromJson(p.Value);
        return d;
    }

    private static object? FromJson(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.Null or JsonValueKind.Undefined => null,
        JsonValueKind.True => true,
        JsonValueKind.False => false,
        JsonValueKind.String => e.GetString(),
        JsonValueKind.Number => e.TryGetInt64(out var l) && !e.GetRawText().Contains('.') && !e.GetRawText().Contains('e', StringComparison.OrdinalIgnoreCase)
            ? (object)l : e.GetDouble(),
        JsonValueKind.Array => e.EnumerateArray().Select(FromJson).ToList(),
        JsonValueKind.Object => JsonObject(e),
        _ => throw new ArgumentException($"unexpected JSON value {e.ValueKind}"),
    };
}
