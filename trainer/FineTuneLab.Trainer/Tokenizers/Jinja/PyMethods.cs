using System.Text;

namespace FineTuneLab.Trainer.Tokenizers.Jinja;

/// <summary>
/// The Python methods templates call on strings, dicts and lists. Methods that mutate are refused, as transformers'
/// ImmutableSandboxedEnvironment refuses them.
/// </summary>
internal static class PyMethods
{
    private static readonly HashSet<string> MutatingDictMethods = ["pop", "popitem", "update", "setdefault", "clear"];
    private static readonly HashSet<string> MutatingListMethods = ["append", "extend", "insert", "pop", "remove", "sort", "reverse", "clear"];

    public static JinjaCallable? Bind(object? obj, string name) => obj switch
    {
        string s => StringMethod(s, name),
        OrderedDictionary<string, object?> d => DictMethod(d, name),
        List<object?> l => ListMethod(l, name),
        object?[] t => name switch
        {
            "index" => Method(name, a => (long)IndexOf(t, Arg(a, 0, name))),
            "count" => Method(name, a => (long)t.Count(x => PyOps.Equals(x, Arg(a, 0, name)))),
            _ => null,
        },
        _ => null,
    };

    private static JinjaCallable Method(string name, Func<IReadOnlyList<object?>, object?> f) => new(name, (args, _) => f(args));

    private static JinjaCallable Unsafe(string type, string name) =>
        new(name, (_, _) => throw new PyError($"access to attribute '{name}' of '{type}' object is unsafe (the template environment is immutable)"));

    private static object? Arg(IReadOnlyList<object?> args, int i, string method) =>
        i < args.Count ? args[i] : throw new PyError($"{method}() is missing argument {i + 1}");

    private static object? OptArg(IReadOnlyList<object?> args, int i) => i < args.Count ? args[i] : null;

    private static string StrArg(IReadOnlyList<object?> args, int i, string method) =>
        Arg(args, i, method) as string ?? throw new PyError($"{method}() argument {i + 1} must be str, not {PyOps.TypeName(args[i])}");

    private static int IndexOf(IReadOnlyList<object?> items, object? x)
    {
        for (var i = 0; i < items.Count; i++)
            if (PyOps.Equals(items[i], x)) return i;
        throw new PyError($"{PyOps.Repr(x)} is not in list");
    }

    private static JinjaCallable? DictMethod(OrderedDictionary<string, object?> d, string name)
    {
        if (MutatingDictMethods.Contains(name)) return Unsafe("dict", name);
        return name switch
        {
            "items" => Method(name, _ => d.Select(kv => (object?)new object?[] { kv.Key, kv.Value }).ToList()),
            "keys" => Method(name, _ => d.Keys.Select(k => (object?)k).ToList()),
            "values" => Method(name, _ => d.Values.ToList()),
            "get" => Method(name, a => Arg(a, 0, name) is string k && d.TryGetValue(k, out var v) ? v : OptArg(a, 1)),
            "copy" => Method(name, _ => new OrderedDictionary<string, object?>(d)),
            _ => null,
        };
    }

    private static JinjaCallable? ListMethod(List<object?> l, string name)
    {
        if (MutatingListMethods.Contains(name)) return Unsafe("list", name);
        return name switch
        {
            "index" => Method(name, a => (long)IndexOf(l, Arg(a, 0, name))),
            "count" => Method(name, a => (long)l.Count(x => PyOps.Equals(x, Arg(a, 0, name)))),
            "copy" => Method(name, _ => new List<object?>(l)),
            _ => null,
        };
    }

    public static bool IsPyWhitespace(char c) => char.IsWhiteSpace(c) || c is >= '\x1c' and <= '\x1f';

    public static string Strip(string s, object? chars, bool left, bool right)
    {
        Func<char, bool> strip = chars switch
        {
            null => IsPyWhitespace,
            string cs => cs.Contains,
            _ => throw new PyError($"strip arg must be None or str, not {PyOps.TypeName(chars)}"),
        };
        int start = 0, end = s.Length;
        if (left) while (start < end && strip(s[start])) start++;
        if (right) while (end > start && strip(s[end - 1])) end--;
        return s[start..end];
    }

    public static List<object?> Split(string s, object? sep, long maxSplit)
    {
        var parts = new List<object?>();
        if (sep is null)
        {
            var i = 0;
            while (true)
            {
                while (i < s.Length && IsPyWhitespace(s[i])) i++;
                if (i >= s.Length) break;
                if (maxSplit >= 0 && parts.Count == maxSplit)
                {
                    parts.Add(Strip(s[i..], null, false, true));
                    break;
                }
                var j = i;
                while (j < s.Length && !IsPyWhitespace(s[j])) j++;
                parts.Add(s[i..j]);
                i = j;
            }
            return parts;
        }
        if (sep is not string sepStr) throw new PyError($"must be str or None, not {PyOps.TypeName(sep)}");
        if (sepStr.Length == 0) throw new PyError("empty separator");
        var pos = 0;
        while (maxSplit < 0 || parts.Count < maxSplit)
        {
            var k = s.IndexOf(sepStr, pos, StringComparison.Ordinal);
            if (k < 0) break;
            parts.Add(s[pos..k]);
            pos = k + sepStr.Length;
        }
        parts.Add(s[pos..]);
        return parts;
    }

    public static string Replace(string s, string old, string replacement, long count)
    {
        if (count < 0) return old.Length == 0 ? InsertEverywhere(s, replacement, long.MaxValue) : s.Replace(old, replacement, StringComparison.Ordinal);
        if (old.Length == 0) return InsertEverywhere(s, replacement, count);
        var sb = new StringBuilder();
        var pos = 0;
        for (long n = 0; n < count; n++)
        {
            var k = s.IndexOf(old, pos, StringComparison.Ordinal);
            if (k < 0) break;
            sb.Append(s, pos, k - pos).Append(replacement);
            pos = k + old.Length;
        }
        return sb.Append(s, pos, s.Length - pos).ToString();
    }

    private static string InsertEverywhere(string s, string r, long count)
    {
        var sb = new StringBuilder();
        long n = 0;
        foreach (var cp in PyOps.CodePoints(s))
        {
            if (n++ < count) sb.Append(r);
            sb.Append(cp);
        }
        if (n < count) sb.Append(r);
        return sb.ToString();
    }

    public static string Title(string s)
    {
        var sb = new StringBuilder(s.Length);
        var prevCased = false;
        foreach (var c in s)
        {
            sb.Append(prevCased ? char.ToLowerInvariant(c) : char.ToUpperInvariant(c));
            prevCased = char.IsLetter(c);
        }
        return sb.ToString();
    }

    public static string Capitalize(string s) =>
        s.Length == 0 ? s : char.ToUpperInvariant(s[0]) + s[1..].ToLowerInvariant();

    private static bool StartsOrEnds(string s, object? prefix, bool start, string method) => prefix switch
    {
        string p => start ? s.StartsWith(p, StringComparison.Ordinal) : s.EndsWith(p, StringComparison.Ordinal),
        object?[] or List<object?> => PyOps.Iterate(prefix).Any(p => StartsOrEnds(s, p, start, method)),
        _ => throw new PyError($"{method} first arg must be str or a tuple of str, not {PyOps.TypeName(prefix)}"),
    };

    private static long LongArg(IReadOnlyList<object?> a, int i, long def) => OptArg(a, i) switch
    {
        null => def,
        long l => l,
        var o => throw new PyError($"an integer is required, not {PyOps.TypeName(o)}"),
    };

    private static JinjaCallable? StringMethod(string s, string name) => name switch
    {
        "startswith" => Method(name, a => StartsOrEnds(s, Arg(a, 0, name), true, name)),
        "endswith" => Method(name, a => StartsOrEnds(s, Arg(a, 0, name), false, name)),
        "strip" => Method(name, a => Strip(s, OptArg(a, 0), true, true)),
        "lstrip" => Method(name, a => Strip(s, OptArg(a, 0), true, false)),
        "rstrip" => Method(name, a => Strip(s, OptArg(a, 0), false, true)),
        "split" => Method(name, a => Split(s, OptArg(a, 0), LongArg(a, 1, -1))),
        "rsplit" => Method(name, a =>
        {
            if (LongArg(a, 1, -1) >= 0) throw new PyError("rsplit with maxsplit is not supported");
            return Split(s, OptArg(a, 0), -1);
        }),
        "splitlines" => Method(name, _ => s.Split('\n').Select(x => (object?)x.TrimEnd('\r')).Take(s.EndsWith('\n') ? s.Split('\n').Length - 1 : int.MaxValue).ToList()),
        "replace" => Method(name, a => Replace(s, StrArg(a, 0, name), StrArg(a, 1, name), LongArg(a, 2, -1))),
        "upper" => Method(name, _ => s.ToUpperInvariant()),
        "lower" => Method(name, _ => s.ToLowerInvariant()),
        "title" => Method(name, _ => Title(s)),
        "capitalize" => Method(name, _ => Capitalize(s)),
        "find" => Method(name, a => (long)s.IndexOf(StrArg(a, 0, name), StringComparison.Ordinal)),
        "rfind" => Method(name, a => (long)s.LastIndexOf(StrArg(a, 0, name), StringComparison.Ordinal)),
        "count" => Method(name, a =>
        {
            var sub = StrArg(a, 0, name);
            if (sub.Length == 0) return PyOps.Length(s) + 1;
            long n = 0;
            for (var k = s.IndexOf(sub, StringComparison.Ordinal); k >= 0; k = s.IndexOf(sub, k + sub.Length, StringComparison.Ordinal)) n++;
            return n;
        }),
        "join" => Method(name, a => string.Join(s, PyOps.Iterate(Arg(a, 0, name)).Select(x =>
            x as string ?? throw new PyError($"sequence item: expected str instance, {PyOps.TypeName(x)} found")))),
        "isdigit" => Method(name, _ => s.Length > 0 && s.All(char.IsDigit)),
        "isalpha" => Method(name, _ => s.Length > 0 && s.All(char.IsLetter)),
        "isalnum" => Method(name, _ => s.Length > 0 && s.All(char.IsLetterOrDigit)),
        "isspace" => Method(name, _ => s.Length > 0 && s.All(IsPyWhitespace)),
        "isupper" => Method(name, _ => s.Any(char.IsLetter) && !s.Any(char.IsLower)),
        "islower" => Method(name, _ => s.Any(char.IsLetter) && !s.Any(char.IsUpper)),
        _ => null,
    };
}
