namespace FineTuneLab.Trainer.Tokenizers.Jinja;

/// <summary>
/// Jinja2's default <c>Undefined</c> (what transformers uses): prints as "", is falsy, has length 0 and iterates as
/// empty, equals only another undefined, and fails on arithmetic, attribute or item access and calls.
/// </summary>
internal sealed class Undefined(string hint)
{
    public string Hint { get; } = hint;
    public override string ToString() => "";
}

/// <summary>The object <c>namespace(...)</c> returns: the one thing a template may assign attributes on across scopes.</summary>
internal sealed class JinjaNamespace
{
    public Dictionary<string, object?> Attributes { get; } = new(StringComparer.Ordinal);
}

internal delegate object? JinjaFunction(IReadOnlyList<object?> args, IReadOnlyDictionary<string, object?> kwargs);

/// <summary>Something a template can call: a global (range, namespace, raise_exception), a macro, or a bound method.</summary>
internal sealed class JinjaCallable(string name, JinjaFunction function)
{
    public string Name { get; } = name;
    public object? Invoke(IReadOnlyList<object?> args, IReadOnlyDictionary<string, object?> kwargs) => function(args, kwargs);
}

/// <summary>The <c>loop</c> variable inside a for loop.</summary>
internal sealed class LoopInfo(IReadOnlyList<object?> items)
{
    public int Index0 { get; set; }
    public IReadOnlyList<object?> Items { get; } = items;

    public object? Get(string name) => name switch
    {
        "index0" => (long)Index0,
        "index" => (long)Index0 + 1,
        "revindex0" => (long)(Items.Count - Index0 - 1),
        "revindex" => (long)(Items.Count - Index0),
        "first" => Index0 == 0,
        "last" => Index0 == Items.Count - 1,
        "length" => (long)Items.Count,
        "depth" => 1L,
        "depth0" => 0L,
        "previtem" => Index0 > 0 ? Items[Index0 - 1] : new Undefined("there is no previous item"),
        "nextitem" => Index0 < Items.Count - 1 ? Items[Index0 + 1] : new Undefined("there is no next item"),
        "cycle" => new JinjaCallable("loop.cycle", (args, _) =>
            args.Count == 0 ? throw new InvalidOperationException("loop.cycle needs at least one argument") : args[Index0 % args.Count]),
        _ => new Undefined($"'loop' has no attribute '{name}'"),
    };
}
