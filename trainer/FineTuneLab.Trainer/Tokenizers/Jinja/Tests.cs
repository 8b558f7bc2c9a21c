namespace FineTuneLab.Trainer.Tokenizers.Jinja;

/// <summary>Jinja2's built-in tests (<c>x is defined</c>, <c>x is string</c>, ...), with Python's type rules.</summary>
internal static class Tests
{
    private delegate bool TestFn(object? value, IReadOnlyList<object?> args);

    private static readonly Dictionary<string, TestFn> All = new(StringComparer.Ordinal)
    {
        ["defined"] = (v, _) => v is not Undefined,
        ["undefined"] = (v, _) => v is Undefined,
        ["none"] = (v, _) => v is null,
        ["string"] = (v, _) => v is string,
        ["number"] = (v, _) => v is long or double or bool,
        ["integer"] = (v, _) => v is long,
        ["float"] = (v, _) => v is double,
        ["boolean"] = (v, _) => v is bool,
        ["true"] = (v, _) => v is true,
        ["false"] = (v, _) => v is false,
        ["mapping"] = (v, _) => v is OrderedDictionary<string, object?>,
        ["iterable"] = (v, _) => v is string or List<object?> or object?[] or OrderedDictionary<string, object?> or Undefined,
        ["sequence"] = (v, _) => v is string or List<object?> or object?[] or OrderedDictionary<string, object?> or Undefined,
        ["callable"] = (v, _) => v is JinjaCallable,
        ["sameas"] = (v, a) => Arg(a) is var o && (v is null or bool ? PyOps.Equals(v, o) && (o is null or bool) : ReferenceEquals(v, o)),
        ["equalto"] = (v, a) => PyOps.Equals(v, Arg(a)),
        ["eq"] = (v, a) => PyOps.Equals(v, Arg(a)),
        ["=="] = (v, a) => PyOps.Equals(v, Arg(a)),
        ["ne"] = (v, a) => !PyOps.Equals(v, Arg(a)),
        ["!="] = (v, a) => !PyOps.Equals(v, Arg(a)),
        ["lt"] = (v, a) => PyOps.Compare(v, Arg(a), "<") < 0,
        ["lessthan"] = (v, a) => PyOps.Compare(v, Arg(a), "<") < 0,
        ["le"] = (v, a) => PyOps.Compare(v, Arg(a), "<=") <= 0,
        ["gt"] = (v, a) => PyOps.Compare(v, Arg(a), ">") > 0,
        ["greaterthan"] = (v, a) => PyOps.Compare(v, Arg(a), ">") > 0,
        ["ge"] = (v, a) => PyOps.Compare(v, Arg(a), ">=") >= 0,
        ["in"] = (v, a) => PyOps.Contains(Arg(a), v),
        ["divisibleby"] = (v, a) => PyOps.Truthy(PyOps.Equals(PyOps.Binary("%", v, Arg(a)), 0L)),
        ["odd"] = (v, _) => PyOps.Equals(PyOps.Binary("%", v, 2L), 1L),
        ["even"] = (v, _) => PyOps.Equals(PyOps.Binary("%", v, 2L), 0L),
        ["lower"] = (v, _) => PyOps.Str(v) is var s && s == s.ToLowerInvariant(),
        ["upper"] = (v, _) => PyOps.Str(v) is var s && s == s.ToUpperInvariant(),
    };

    private static object? Arg(IReadOnlyList<object?> a) =>
        a.Count > 0 ? a[0] : throw new PyError("this test needs an argument");

    public static bool Exists(string name) => All.ContainsKey(name);

    public static bool Run(string name, object? value, IReadOnlyList<object?> args) =>
        All.TryGetValue(name, out var test) ? test(value, args) : throw new PyError($"no test named '{name}'");
}
