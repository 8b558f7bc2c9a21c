namespace FineTuneLab.Trainer.Tokenizers.Jinja;

/// <summary>Binds Python-style positional and keyword arguments to a function's parameter list.</summary>
internal readonly struct CallBinder(string function, IReadOnlyList<object?> args, IReadOnlyDictionary<string, object?> kwargs, params string[] parameters)
{
    public object? this[int index] => Get(index, null, required: false);

    public bool Has(int index) =>
        index < args.Count || (index < parameters.Length && kwargs.ContainsKey(parameters[index]));

    public object? Get(int index, object? fallback = null, bool required = false)
    {
        if (index < args.Count) return args[index];
        if (index < parameters.Length && kwargs.TryGetValue(parameters[index], out var v)) return v;
        if (required) throw new PyError($"{function}() missing required argument '{(index < parameters.Length ? parameters[index] : index.ToString())}'");
        return fallback;
    }

    public void CheckArity()
    {
        if (args.Count > parameters.Length)
            throw new PyError($"{function}() takes at most {parameters.Length} arguments ({args.Count} given)");
        foreach (var k in kwargs.Keys)
            if (Array.IndexOf(parameters, k) < 0)
                throw new PyError($"{function}() got an unexpected keyword argument '{k}'");
    }
}
