using System.Globalization;
using System.Text;

namespace FineTuneLab.Trainer.Tokenizers.Jinja;

/// <summary>
/// Python's <c>json.dumps</c> as transformers' <c>tojson</c> filter calls it: ensure_ascii=False by default,
/// separators (", ", ": ") or (",", ": ") with an indent, keys in insertion order unless sort_keys.
/// </summary>
internal static class PyJson
{
    public sealed record Options(string? Indent, string ItemSeparator, string KeySeparator, bool SortKeys, bool EnsureAscii);

    public static string Dumps(object? value, Options options)
    {
        var sb = new StringBuilder();
        Write(sb, value, options, 0);
        return sb.ToString();
    }

    private static void Write(StringBuilder sb, object? v, Options o, int level)
    {
        switch (v)
        {
            case null: sb.Append("null"); break;
            case bool b: sb.Append(b ? "true" : "false"); break;
            case long l: sb.Append(l.ToString(CultureInfo.InvariantCulture)); break;
            case double d:
                sb.Append(double.IsNaN(d) ? "NaN" : double.IsPositiveInfinity(d) ? "Infinity" : double.IsNegativeInfinity(d) ? "-Infinity" : PyOps.FloatRepr(d));
                break;
            case string s: WriteString(sb, s, o.EnsureAscii); break;
            case List<object?> or object?[]:
                WriteSequence(sb, PyOps.Iterate(v), o, level);
                break;
            case OrderedDictionary<string, object?> dict:
                WriteObject(sb, dict, o, level);
                break;
            case JinjaNamespace ns:
                WriteObject(sb, new OrderedDictionary<string, object?>(ns.Attributes), o, level);
                break;
            case Undefined u:
                throw new PyError($"Object of type Undefined is not JSON serializable ({u.Hint})");
            default:
                throw new PyError($"Object of type {PyOps.TypeName(v)} is not JSON serializable");
        }
    }

    private static void NewLine(StringBuilder sb, Options o, int level)
    {
        sb.Append('\n');
        for (var i = 0; i < level; i++) sb.Append(o.Indent);
    }

    private static void WriteSequence(StringBuilder sb, IReadOnlyList<object?> items, Options o, int level)
    {
        if (items.Count == 0) { sb.Append("[]"); return; }
        sb.Append('[');
        for (var i = 0; i < items.Count; i++)
        {
            if (i > 0) sb.Append(o.ItemSeparator);
            if (o.Indent is not null) NewLine(sb, o, level + 1);
            Write(sb, items[i], o, level + 1);
        }
        if (o.Indent is not null) NewLine(sb, o, level);
        sb.Append(']');
    }

    private static void WriteObject(StringBuilder sb, OrderedDictionary<string, object?> d, Options o, int level)
    {
        if (d.Count == 0) { sb.Append("{}"); return; }
        IEnumerable<KeyValuePair<string, object?>> pairs = o.SortKeys ? d.OrderBy(kv => kv.Key, StringComparer.Ordinal) : d;
        sb.Append('{');
        var first = true;
        foreach (var (k, val) in pairs)
        {
            if (!first) sb.Append(o.ItemSeparator);
            first = false;
            if (o.Indent is not null) NewLine(sb, o, level + 1);
            WriteString(sb, k, o.EnsureAscii);
            sb.Append(o.KeySeparator);
            Write(sb, val, o, level + 1);
        }
        if (o.Indent is not null) NewLine(sb, o, level);
        sb.Append('}');
    }

    private static void WriteString(StringBuilder sb, string s, bool ensureAscii)
    {
        sb.Append('"');
        foreach (var c in s)
        {
            switch (c)
            {
                case '"': sb.Append("\\\""); break;
                case '\\': sb.Append("\\\\"); break;
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                case '\b': sb.Append("\\b"); break;
                case '\f': sb.Append("\\f"); break;
                default:
                    if (c < 0x20 || (ensureAscii && c > 0x7e))
                        sb.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    else
                        sb.Append(c);
                    break;
            }
        }
        sb.Append('"');
    }
}
