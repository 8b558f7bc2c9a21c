using System.Globalization;
using System.Text;

namespace FineTuneLab.Trainer.Tokenizers.Jinja;

/// <summary>Jinja2's built-in filters that chat templates use, plus transformers' own <c>tojson</c>.</summary>
internal static class Filters
{
    private delegate object? FilterFn(object? value, CallBinder args);

    private static readonly Dictionary<string, (string[] Params, FilterFn Fn)> All = new(StringComparer.Ordinal)
    {
        ["trim"] = (["chars"], (v, a) => PyMethods.Strip(PyOps.Str(v), a[0], true, true)),
        ["length"] = ([], (v, _) => PyOps.Length(v)),
        ["count"] = ([], (v, _) => PyOps.Length(v)),
        ["tojson"] = (["ensure_ascii", "indent", "separators", "sort_keys"], ToJson),
        ["upper"] = ([], (v, _) => PyOps.Str(v).ToUpperInvariant()),
        ["lower"] = ([], (v, _) => PyOps.Str(v).ToLowerInvariant()),
        ["capitalize"] = ([], (v, _) => PyMethods.Capitalize(PyOps.Str(v))),
        ["title"] = ([], (v, _) => PyMethods.Title(PyOps.Str(v))),
        ["default"] = (["default_value", "boolean"], Default),
        ["d"] = (["default_value", "boolean"], Default),
        ["first"] = ([], (v, _) => PyOps.Iterate(v) is { Count: > 0 } l ? l[0] : new Undefined("No first item, sequence was empty.")),
        ["last"] = ([], (v, _) => PyOps.Iterate(v) is { Count: > 0 } l ? l[^1] : new Undefined("No last item, sequence was empty.")),
        ["join"] = (["d", "attribute"], (v, a) => string.Join(a.Get(0, "") as string ?? PyOps.Str(a[0]),
            PyOps.Iterate(v).Select(x => PyOps.Str(a[1] is string attr ? PyOps.GetAttr(x, attr) : x)))),
        ["replace"] = (["old", "new", "count"], (v, a) => PyMethods.Replace(PyOps.Str(v), PyOps.Str(a.Get(0, required: true)),
            PyOps.Str(a.Get(1, required: true)), a[2] is long n ? n : -1)),
        ["items"] = ([], (v, _) => v switch
        {
            OrderedDictionary<string, object?> d => d.Select(kv => (object?)new object?[] { kv.Key, kv.Value }).ToList(),
            Undefined => new List<object?>(),
            _ => throw new PyError($"Can only get item pairs from a mapping, not {PyOps.TypeName(v)}."),
        }),
        ["list"] = ([], (v, _) => PyOps.Iterate(v).ToList()),
        ["string"] = ([], (v, _) => PyOps.Str(v)),
        ["safe"] = ([], (v, _) => v),
        ["escape"] = ([], (v, _) => Escape(PyOps.Str(v))),
        ["e"] = ([], (v, _) => Escape(PyOps.Str(v))),
        ["int"] = (["default", "base"], ToInt),
        ["float"] = (["default"], ToFloat),
        ["abs"] = ([], (v, _) => v switch
        {
            long l => (object)Math.Abs(l),
            double x => (object)Math.Abs(x),
            bool b => b ? 1L : 0L,
            _ => throw new PyError($"bad operand type for abs(): '{PyOps.TypeName(v)}'"),
        }),
        ["round"] = (["precision", "method"], Round),
        ["reverse"] = ([], (v, _) => v is string s ? string.Concat(PyOps.CodePoints(s).AsEnumerable().Reverse()) : PyOps.Iterate(v).Reverse().ToList()),
        ["unique"] = ([], (v, _) => Unique(PyOps.Iterate(v))),
        ["sum"] = (["attribute", "start"], (v, a) => PyOps.Iterate(v).Aggregate(a.Get(1, 0L),
            (acc, x) => PyOps.Binary("+", acc, a[0] is string attr ? PyOps.GetAttr(x, attr) : x))),
        ["max"] = ([], (v, _) => MinMax(v, max: true)),
        ["min"] = ([], (v, _) => MinMax(v, max: false)),
        ["sort"] = (["reverse", "case_sensitive", "attribute"], Sort),
        ["map"] = (["attribute", "default"], Map),
        ["indent"] = (["width", "first", "blank"], Indent),
        ["wordcount"] = ([], (v, _) => (long)PyMethods.Split(PyOps.Str(v), null, -1).Count),
        ["center"] = (["width"], (v, a) => Center(PyOps.Str(v), a.Get(0, 80L) is long w ? (int)w : 80)),
    };

    /// <summary>Filters whose arguments are a test name and that test's own arguments (dispatched in <see cref="Apply"/>).</summary>
    private static readonly HashSet<string> TestFilters = ["select", "reject", "selectattr", "rejectattr"];

    public static bool Exists(string name) => All.ContainsKey(name) || TestFilters.Contains(name);

    public static object? Apply(string name, object? value, IReadOnlyList<object?> args, IReadOnlyDictionary<string, object?> kwargs)
    {
        switch (name)
        {
            case "select" or "reject":
                return SelectOrReject(value, null, args, keep: name == "select");
            case "selectattr" or "rejectattr":
                if (args.Count == 0 || args[0] is not string attr) throw new PyError($"{name} needs an attribute name");
                return SelectOrReject(value, attr, args.Skip(1).ToList(), keep: name == "selectattr");
            case "map" when args.Count > 0 && args[0] is string filterName:
                return PyOps.Iterate(value).Select(x => Apply(filterName, x, args.Skip(1).ToList(), kwargs)).ToList();
        }
        if (!All.TryGetValue(name, out var filter)) throw new PyError($"no filter named '{name}'");
        var binder = new CallBinder(name, args, kwargs, filter.Params);
        binder.CheckArity();
        return filter.Fn(value, binder);
    }

    private static List<object?> SelectOrReject(object? value, string? attribute, IReadOnlyList<object?> args, bool keep)
    {
        var testName = args.Count > 0 ? args[0] as string ?? throw new PyError("the test name must be a string") : null;
        var testArgs = args.Skip(1).ToList();
        return PyOps.Iterate(value).Where(x =>
        {
            var subject = attribute is null ? x : PyOps.GetAttr(x, attribute);
            var passed = testName is null ? PyOps.Truthy(subject) : Tests.Run(testName, subject, testArgs);
            return passed == keep;
        }).ToList();
    }

    private static object? Default(object? v, CallBinder a)
    {
        var fallback = a.Get(0, "");
        var boolean = PyOps.Truthy(a.Get(1, false));
        return v is Undefined || (boolean && !PyOps.Truthy(v)) ? fallback : v;
    }

    private static object? ToJson(object? v, CallBinder a)
    {
        var indentArg = a[1];
        string? indent = indentArg switch
        {
            null => null,
            long n => new string(' ', (int)Math.Max(0, n)),
            string s => s,
            _ => throw new PyError($"tojson indent must be an int or a string, not {PyOps.TypeName(indentArg)}"),
        };
        string itemSep = indent is null ? ", " : ",", keySep = ": ";
        if (a[2] is object?[] or List<object?> && PyOps.Iterate(a[2]) is { Count: 2 } seps)
        {
            itemSep = PyOps.Str(seps[0]);
            keySep = PyOps.Str(seps[1]);
        }
        var options = new PyJson.Options(indent, itemSep, keySep, PyOps.Truthy(a.Get(3, false)), PyOps.Truthy(a.Get(0, false)));
        return PyJson.Dumps(v, options);
    }

    private static object? ToInt(object? v, CallBinder a)
    {
        var fallback = a.Get(0, 0L);
        return v switch
        {
            long l => l,
            bool b => b ? 1L : 0L,
            double d => (long)Math.Truncate(d),
            string s when long.TryParse(s.Trim().Replace("_", ""), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var l) => l,
            string s when double.TryParse(s.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out var d) => (long)Math.Truncate(d),
            _ => fallback,
        };
    }

    private static object? ToFloat(object? v, CallBinder a)
    {
        var fallback = a.Get(0, 0.0);
        return v switch
        {
            long l => (double)l,
            bool b => b ? 1.0 : 0.0,
            double d => d,
            string s when double.TryParse(s.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out var d) => d,
            _ => fallback,
        };
    }

    private static object? Round(object? v, CallBinder a)
    {
        var precision = a.Get(0, 0L) is long p ? (int)p : 0;
        var method = a.Get(1, "common") as string;
        var x = v switch { long l => l, double d => d, bool b => b ? 1 : 0, _ => throw new PyError($"round needs a number, not {PyOps.TypeName(v)}") };
        var scale = Math.Pow(10, precision);
        return method switch
        {
            "common" => Math.Round(x * scale, MidpointRounding.AwayFromZero) / scale,
            "floor" => Math.Floor(x * scale) / scale,
            "ceil" => Math.Ceiling(x * scale) / scale,
            _ => throw new PyError("method must be common, ceil or floor"),
        };
    }

    private static List<object?> Unique(IReadOnlyList<object?> items)
    {
        var r = new List<object?>();
        foreach (var x in items)
            if (!r.Any(y => PyOps.Equals(x is string s ? s.ToLowerInvariant() : x, y is string t ? t.ToLowerInvariant() : y)))
                r.Add(x);
        return r;
    }

    private static object? MinMax(object? v, bool max)
    {
        var items = PyOps.Iterate(v);
        if (items.Count == 0) return new Undefined($"No aggregated item, sequence was empty.");
        var best = items[0];
        foreach (var x in items.Skip(1))
        {
            var c = PyOps.Compare(x, best, max ? ">" : "<");
            if (max ? c > 0 : c < 0) best = x;
        }
        return best;
    }

    private static object? Sort(object? v, CallBinder a)
    {
        var reverse = PyOps.Truthy(a.Get(0, false));
        var caseSensitive = PyOps.Truthy(a.Get(1, false));
        var attribute = a[2] as string;
        object? Key(object? x)
        {
            var k = attribute is null ? x : PyOps.GetAttr(x, attribute);
            return !caseSensitive && k is string s ? s.ToLowerInvariant() : k;
        }
        var list = PyOps.Iterate(v).ToList();
        var sorted = list.Select((x, i) => (x, i)).ToList();
        sorted.Sort((p, q) => { var c = PyOps.Compare(Key(p.x), Key(q.x), "<"); return c != 0 ? (reverse ? -c : c) : p.i.CompareTo(q.i); });
        return sorted.Select(p => p.x).ToList();
    }

    private static object? Map(object? v, CallBinder a)
    {
        if (a[0] is not string attribute) throw new PyError("map supports map(attribute='name') here; map('filter') is handled by the renderer");
        var fallback = a.Has(1) ? a[1] : null;
        return PyOps.Iterate(v).Select(x =>
        {
            var r = attribute.Split('.').Aggregate(x, (o, part) => part.All(char.IsDigit) ? PyOps.GetItem(o, long.Parse(part, CultureInfo.InvariantCulture)) : PyOps.GetItem(o, part));
            return r is Undefined && a.Has(1) ? fallback : r;
        }).ToList();
    }

    private static object? Indent(object? v, CallBinder a)
    {
        var width = a.Get(0, 4L) switch { long n => new string(' ', (int)n), string w => w, var o => throw new PyError($"indent width must be int or str, not {PyOps.TypeName(o)}") };
        var first = PyOps.Truthy(a.Get(1, false));
        var blank = PyOps.Truthy(a.Get(2, false));
        var s = PyOps.Str(v);
        var newline = "\n";
        if (s.EndsWith('\n')) { s = s[..^1]; newline = "\n\n"; }
        else newline = "\n";
        var lines = s.Split('\n');
        var sb = new StringBuilder();
        for (var i = 0; i < lines.Length; i++)
        {
            if (i > 0) sb.Append('\n');
            var line = lines[i];
            if ((i > 0 || first) && (blank || line.Length > 0)) sb.Append(width);
            sb.Append(line);
        }
        if (newline == "\n\n") sb.Append('\n');
        return sb.ToString();
    }

    private static string Center(string s, int width)
    {
        if (s.Length >= width) return s;
        var total = width - s.Length;
        var left = total / 2 + (total & width & 1);
        return new string(' ', left) + s + new string(' ', total - left);
    }

    private static string Escape(string s) => s.Replace("&", "&amp;").Replace("<", "&lt;").Replace(">", "&gt;")
        .Replace("\"", "&#34;").Replace("'", "&#39;");
}
