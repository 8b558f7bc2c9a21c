using System.Globalization;
using System.Text;

namespace FineTuneLab.Trainer.Tokenizers.Jinja;

/// <summary>A Python-level error (TypeError, UndefinedError, ...); the renderer adds the template position.</summary>
internal sealed class PyError(string message) : Exception(message);

/// <summary>
/// Python semantics for the values a template sees: None=null, bool, long (int), double (float), string, List (list),
/// object?[] (tuple), OrderedDictionary (dict), <see cref="Undefined"/>, <see cref="JinjaNamespace"/>, callables.
/// </summary>
internal static class PyOps
{
    public static PyError UndefinedError(Undefined u) => new(u.Hint);

    public static string TypeName(object? v) => v switch
    {
        null => "NoneType",
        bool => "bool",
        long => "int",
        double => "float",
        string => "str",
        List<object?> => "list",
        object?[] => "tuple",
        OrderedDictionary<string, object?> => "dict",
        Undefined => "Undefined",
        JinjaNamespace => "Namespace",
        LoopInfo => "LoopContext",
        JinjaCallable => "function",
        _ => v.GetType().Name,
    };

    public static bool Truthy(object? v) => v switch
    {
        null => false,
        bool b => b,
        long l => l != 0,
        double d => d != 0,
        string s => s.Length > 0,
        List<object?> l => l.Count > 0,
        object?[] t => t.Length > 0,
        OrderedDictionary<string, object?> d => d.Count > 0,
        Undefined => false,
        _ => true,
    };

    /// <summary>Python's <c>str()</c>, which is what <c>{{ x }}</c> prints (undefined prints nothing).</summary>
    public static string Str(object? v) => v switch
    {
        string s => s,
        Undefined => "",
        _ => Repr(v),
    };

    public static string Repr(object? v) => v switch
    {
        null => "None",
        bool b => b ? "True" : "False",
        long l => l.ToString(CultureInfo.InvariantCulture),
        double d => FloatRepr(d),
        string s => StringRepr(s),
        List<object?> l => "[" + string.Join(", ", l.Select(Repr)) + "]",
        object?[] t => t.Length == 1 ? "(" + Repr(t[0]) + ",)" : "(" + string.Join(", ", t.Select(Repr)) + ")",
        OrderedDictionary<string, object?> d => "{" + string.Join(", ", d.Select(kv => StringRepr(kv.Key) + ": " + Repr(kv.Value))) + "}",
        Undefined => "",
        JinjaNamespace ns => "<Namespace " + Repr(new OrderedDictionary<string, object?>(ns.Attributes)) + ">",
        JinjaCallable c => $"<function {c.Name}>",
        LoopInfo loop => $"<LoopContext {loop.Index0 + 1}/{loop.Items.Count}>",
        _ => v.ToString() ?? "",
    };

    /// <summary>Python's float repr: shortest round-trip digits, fixed notation for 1e-4 ≤ |x| &lt; 1e16, else scientific.</summary>
    public static string FloatRepr(double d)
    {
        if (double.IsNaN(d)) return "nan";
        if (double.IsPositiveInfinity(d)) return "inf";
        if (double.IsNegativeInfinity(d)) return "-inf";
        if (d == 0) return double.IsNegative(d) ? "-0.0" : "0.0";
        // Shortest round-trip digits come from "R"; read its mantissa digits and decimal exponent.
        var shortest = Math.Abs(d).ToString("R", CultureInfo.InvariantCulture);
        string digits;
        int exp;
        var ePos = shortest.IndexOfAny(['E', 'e']);
        var mantissa = ePos >= 0 ? shortest[..ePos] : shortest;
        var extraExp = ePos >= 0 ? int.Parse(shortest[(ePos + 1)..], CultureInfo.InvariantCulture) : 0;
        var dot = mantissa.IndexOf('.');
        var intPart = dot >= 0 ? mantissa[..dot] : mantissa;
        var fracPart = dot >= 0 ? mantissa[(dot + 1)..] : "";
        var all = (intPart + fracPart).TrimStart('0');
        var leadingZerosRemoved = (intPart + fracPart).Length - all.Length;
        digits = all.TrimEnd('0');
        if (digits.Length == 0) digits = "0";
        exp = intPart.Length - 1 - leadingZerosRemoved + extraExp;
        var sign = d < 0 ? "-" : "";
        if (exp is >= -4 and < 16)
        {
            string body;
            if (exp >= 0)
            {
                var intDigits = digits.Length > exp + 1 ? digits[..(exp + 1)] : digits.PadRight(exp + 1, '0');
                var frac = digits.Length > exp + 1 ? digits[(exp + 1)..] : "0";
                body = intDigits + "." + frac;
            }
            else
                body = "0." + new string('0', -exp - 1) + digits;
            return sign + body;
        }
        var m = digits.Length == 1 ? digits : digits[0] + "." + digits[1..];
        return sign + m + "e" + (exp < 0 ? "-" : "+") + Math.Abs(exp).ToString("00", CultureInfo.InvariantCulture);
    }

    public static string StringRepr(string s)
    {
        var quote = s.Contains('\'') && !s.Contains('"') ? '"' : '\'';
        var sb = new StringBuilder(s.Length + 2).Append(quote);
        foreach (var c in s)
        {
            switch (c)
            {
                case '\\': sb.Append("\\\\"); break;
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                default:
                    if (c == quote) sb.Append('\\').Append(c);
                    else if (c < 0x20 || c == 0x7f) sb.Append("\\x").Append(((int)c).ToString("x2", CultureInfo.InvariantCulture));
                    else sb.Append(c);
                    break;
            }
        }
        return sb.Append(quote).ToString();
    }

    // ---------------------------------------------------------------- numbers

    public static bool IsNumber(object? v) => v is long or double or bool;

    private static bool IsIntLike(object? v) => v is long or bool;

    private static long AsLong(object? v) => v switch { long l => l, bool b => b ? 1 : 0, _ => throw new InvalidCastException() };

    private static double AsDouble(object? v) => v switch { long l => l, bool b => b ? 1 : 0, double d => d, _ => throw new InvalidCastException() };

    private static PyError Unsupported(string op, object? a, object? b) =>
        new($"unsupported operand type(s) for {op}: '{TypeName(a)}' and '{TypeName(b)}'");

    public static object? Binary(string op, object? a, object? b)
    {
        if (a is Undefined ua) throw UndefinedError(ua);
        if (b is Undefined ub) throw UndefinedError(ub);
        switch (op)
        {
            case "+":
                if (IsIntLike(a) && IsIntLike(b)) return AsLong(a) + AsLong(b);
                if (IsNumber(a) && IsNumber(b)) return AsDouble(a) + AsDouble(b);
                if (a is string sa && b is string sb) return sa + sb;
                if (a is List<object?> la && b is List<object?> lb) return new List<object?>(la.Concat(lb));
                if (a is object?[] ta && b is object?[] tb) return ta.Concat(tb).ToArray();
                if (a is string) throw new PyError($"can only concatenate str (not \"{TypeName(b)}\") to str");
                if (a is List<object?>) throw new PyError($"can only concatenate list (not \"{TypeName(b)}\") to list");
                throw Unsupported("+", a, b);
            case "-":
                if (IsIntLike(a) && IsIntLike(b)) return AsLong(a) - AsLong(b);
                if (IsNumber(a) && IsNumber(b)) return AsDouble(a) - AsDouble(b);
                throw Unsupported("-", a, b);
            case "*":
                if (IsIntLike(a) && IsIntLike(b)) return AsLong(a) * AsLong(b);
                if (IsNumber(a) && IsNumber(b)) return AsDouble(a) * AsDouble(b);
                if (a is string s1 && IsIntLike(b)) return Repeat(s1, AsLong(b));
                if (IsIntLike(a) && b is string s2) return Repeat(s2, AsLong(a));
                if (a is List<object?> l1 && IsIntLike(b)) return RepeatList(l1, AsLong(b));
                throw Unsupported("*", a, b);
            case "/":
                if (!IsNumber(a) || !IsNumber(b)) throw Unsupported("/", a, b);
                if (AsDouble(b) == 0) throw new PyError("division by zero");
                return AsDouble(a) / AsDouble(b);
            case "//":
                if (!IsNumber(a) || !IsNumber(b)) throw Unsupported("//", a, b);
                if (AsDouble(b) == 0) throw new PyError("integer division or modulo by zero");
                if (IsIntLike(a) && IsIntLike(b)) return FloorDiv(AsLong(a), AsLong(b));
                return Math.Floor(AsDouble(a) / AsDouble(b));
            case "%":
                if (a is string) throw new PyError("printf-style string formatting ('%' on a string) is not supported");
                if (!IsNumber(a) || !IsNumber(b)) throw Unsupported("%", a, b);
                if (AsDouble(b) == 0) throw new PyError("integer division or modulo by zero");
                if (IsIntLike(a) && IsIntLike(b)) { var y = AsLong(b); var m = AsLong(a) % y; return m != 0 && (m < 0) != (y < 0) ? m + y : m; }
                {
                    var x = AsDouble(a); var y = AsDouble(b);
                    var m = x % y;
                    return m != 0 && (m < 0) != (y < 0) ? m + y : m;
                }
            case "**":
                if (IsIntLike(a) && IsIntLike(b) && AsLong(b) >= 0)
                {
                    long result = 1, bas = AsLong(a);
                    for (var e = AsLong(b); e > 0; e--) result *= bas;
                    return result;
                }
                if (IsNumber(a) && IsNumber(b)) return Math.Pow(AsDouble(a), AsDouble(b));
                throw Unsupported("** or pow()", a, b);
            default:
                throw new PyError($"unknown operator {op}");
        }
    }

    private static long FloorDiv(long a, long b)
    {
        var q = a / b;
        return (a % b != 0) && ((a < 0) != (b < 0)) ? q - 1 : q;
    }

    private static string Repeat(string s, long n) => n <= 0 ? "" : new StringBuilder(s.Length * (int)n).Insert(0, s, (int)n).ToString();

    private static List<object?> RepeatList(List<object?> l, long n)
    {
        var r = new List<object?>();
        for (var i = 0; i < n; i++) r.AddRange(l);
        return r;
    }

    public static object? Negate(object? v) => v switch
    {
        long l => (object)(-l),
        bool b => b ? -1L : 0L,
        double d => (object)(-d),
        Undefined u => throw UndefinedError(u),
        _ => throw new PyError($"bad operand type for unary -: '{TypeName(v)}'"),
    };

    // ---------------------------------------------------------------- comparisons

    public static new bool Equals(object? a, object? b)
    {
        if (a is Undefined || b is Undefined) return a is Undefined && b is Undefined;
        if (a is null || b is null) return a is null && b is null;
        if (IsNumber(a) && IsNumber(b))
            return IsIntLike(a) && IsIntLike(b) ? AsLong(a) == AsLong(b) : AsDouble(a) == AsDouble(b);
        return (a, b) switch
        {
            (string x, string y) => string.Equals(x, y, StringComparison.Ordinal),
            (List<object?> x, List<object?> y) => x.Count == y.Count && x.Zip(y).All(p => Equals(p.First, p.Second)),
            (object?[] x, object?[] y) => x.Length == y.Length && x.Zip(y).All(p => Equals(p.First, p.Second)),
            (OrderedDictionary<string, object?> x, OrderedDictionary<string, object?> y) =>
                x.Count == y.Count && x.All(kv => y.TryGetValue(kv.Key, out var v) && Equals(kv.Value, v)),
            _ => ReferenceEquals(a, b),
        };
    }

    /// <summary>Python ordering (&lt; etc.): numbers, strings by code point, lists/tuples lexicographically.</summary>
    public static int Compare(object? a, object? b, string op)
    {
        if (a is Undefined ua) throw UndefinedError(ua);
        if (b is Undefined ub) throw UndefinedError(ub);
        if (IsNumber(a) && IsNumber(b)) return AsDouble(a).CompareTo(AsDouble(b));
        if (a is string x && b is string y) return string.CompareOrdinal(x, y);
        if ((a is List<object?> && b is List<object?>) || (a is object?[] && b is object?[]))
        {
            var la = AsSequence(a); var lb = AsSequence(b);
            for (var i = 0; i < Math.Min(la.Count, lb.Count); i++)
                if (!Equals(la[i], lb[i])) return Compare(la[i], lb[i], op);
            return la.Count.CompareTo(lb.Count);
        }
        throw new PyError($"'{op}' not supported between instances of '{TypeName(a)}' and '{TypeName(b)}'");
    }

    private static IReadOnlyList<object?> AsSequence(object? v) => v switch
    {
        List<object?> l => l,
        object?[] t => t,
        _ => throw new InvalidCastException(),
    };

    public static bool Contains(object? container, object? item) => container switch
    {
        string s => item is string sub ? s.Contains(sub, StringComparison.Ordinal)
            : item is Undefined u ? throw UndefinedError(u)
            : throw new PyError($"'in <string>' requires string as left operand, not {TypeName(item)}"),
        List<object?> l => l.Any(x => Equals(x, item)),
        object?[] t => t.Any(x => Equals(x, item)),
        OrderedDictionary<string, object?> d => item is string k && d.ContainsKey(k),
        Undefined => false,
        _ => throw new PyError($"argument of type '{TypeName(container)}' is not iterable"),
    };

    // ---------------------------------------------------------------- sequences

    public static IReadOnlyList<object?> Iterate(object? v) => v switch
    {
        List<object?> l => l,
        object?[] t => t,
        OrderedDictionary<string, object?> d => d.Keys.Cast<object?>().ToList(),
        string s => CodePoints(s).Select(cp => (object?)cp).ToList(),
        Undefined => [],
        _ => throw new PyError($"'{TypeName(v)}' object is not iterable"),
    };

    /// <summary>A string's characters as Python sees them (code points, surrogate pairs kept together).</summary>
    public static List<string> CodePoints(string s)
    {
        var r = new List<string>(s.Length);
        foreach (var rune in s.EnumerateRunes()) r.Add(rune.ToString());
        return r;
    }

    public static long Length(object? v) => v switch
    {
        string s => CodePointCount(s),
        List<object?> l => l.Count,
        object?[] t => t.Length,
        OrderedDictionary<string, object?> d => d.Count,
        Undefined => 0,
        _ => throw new PyError($"object of type '{TypeName(v)}' has no len()"),
    };

    private static long CodePointCount(string s)
    {
        long n = 0;
        foreach (var _ in s.EnumerateRunes()) n++;
        return n;
    }

    public static object? Slice(object? v, object? start, object? stop, object? step)
    {
        if (v is Undefined u) throw UndefinedError(u);
        long? Idx(object? x) => x switch
        {
            null => null,
            long l => l,
            bool b => b ? 1 : 0,
            _ => throw new PyError("slice indices must be integers or None"),
        };
        var st = Idx(step) ?? 1;
        if (st == 0) throw new PyError("slice step cannot be zero");
        switch (v)
        {
            case string s:
                var chars = s.Any(char.IsSurrogate) ? CodePoints(s) : s.Select(c => c.ToString()).ToList();
                return string.Concat(SliceIndices(chars.Count, Idx(start), Idx(stop), st).Select(i => chars[i]));
            case List<object?> l:
                return SliceIndices(l.Count, Idx(start), Idx(stop), st).Select(i => l[i]).ToList();
            case object?[] t:
                return SliceIndices(t.Length, Idx(start), Idx(stop), st).Select(i => t[i]).ToArray();
            default:
                throw new PyError($"'{TypeName(v)}' object is not subscriptable");
        }
    }

    private static IEnumerable<int> SliceIndices(int len, long? start, long? stop, long step)
    {
        long Clamp(long i, long lo, long hi) => Math.Max(lo, Math.Min(hi, i));
        long s, e;
        if (step > 0)
        {
            s = start is { } a ? (a < 0 ? Clamp(a + len, 0, len) : Clamp(a, 0, len)) : 0;
            e = stop is { } b ? (b < 0 ? Clamp(b + len, 0, len) : Clamp(b, 0, len)) : len;
            for (var i = s; i < e; i += step) yield return (int)i;
        }
        else
        {
            s = start is { } a ? (a < 0 ? Clamp(a + len, -1, len - 1) : Clamp(a, -1, len - 1)) : len - 1;
            e = stop is { } b ? (b < 0 ? Clamp(b + len, -1, len - 1) : Clamp(b, -1, len - 1)) : -1;
            for (var i = s; i > e; i += step) yield return (int)i;
        }
    }

    // ---------------------------------------------------------------- attribute and item access

    /// <summary>Jinja's <c>obj.name</c>: an attribute (a method) first, then an item; missing is undefined.</summary>
    public static object? GetAttr(object? obj, string name)
    {
        switch (obj)
        {
            case Undefined u:
                throw UndefinedError(u);
            case JinjaNamespace ns:
                return ns.Attributes.TryGetValue(name, out var nv) ? nv : new Undefined($"'{name}' is undefined on the namespace");
            case LoopInfo loop:
                return loop.Get(name);
        }
        var method = PyMethods.Bind(obj, name);
        if (method is not null) return method;
        if (obj is OrderedDictionary<string, object?> d && d.TryGetValue(name, out var v)) return v;
        return new Undefined($"'{TypeName(obj)} object' has no attribute '{name}'");
    }

    /// <summary>Jinja's <c>obj[key]</c>: an item first, then (for a string key) an attribute; missing is undefined.</summary>
    public static object? GetItem(object? obj, object? key)
    {
        switch (obj)
        {
            case Undefined u:
                throw UndefinedError(u);
            case OrderedDictionary<string, object?> d when key is string k && d.TryGetValue(k, out var v):
                return v;
            case List<object?> or object?[] or string when key is long or bool:
                var seq = obj is string s ? (s.Any(char.IsSurrogate) ? CodePoints(s).Cast<object?>().ToList() : s.Select(c => (object?)c.ToString()).ToList())
                    : AsSequence(obj);
                var i = key is long l ? l : (bool)key ? 1 : 0;
                if (i < 0) i += seq.Count;
                if (i >= 0 && i < seq.Count) return seq[(int)i];
                return new Undefined($"{TypeName(obj)} index {key} out of range");
            case JinjaNamespace or LoopInfo when key is string name:
                return GetAttr(obj, name);
        }
        if (key is string attr && obj is not null)
            return GetAttr(obj, attr);
        return new Undefined($"{Repr(obj)} has no element {Repr(key)}");
    }
}
