namespace FineTuneLab.Trainer.Export.Gguf;

/// <summary>One typed metadata value; arrays hold elements of one type.</summary>
public sealed record GgufValue(GgufValueType Type, object Value, GgufValueType ElementType = GgufValueType.UInt8);

/// <summary>
/// The key/value section of a GGUF file, in insertion order (what llama.cpp reads is by key; the order only makes
/// files reproducible). Each add names the value's GGUF type, as gguf-py's GGUFWriter.add_* do.
/// </summary>
public sealed class GgufMetadata
{
    private readonly List<KeyValuePair<string, GgufValue>> _items = [];
    private readonly HashSet<string> _keys = new(StringComparer.Ordinal);

    public IReadOnlyList<KeyValuePair<string, GgufValue>> Items => _items;

    public bool Contains(string key) => _keys.Contains(key);

    private GgufMetadata Add(string key, GgufValue v)
    {
        if (!_keys.Add(key)) throw new ArgumentException($"GGUF metadata key '{key}' is set twice");
        _items.Add(new(key, v));
        return this;
    }

    public GgufMetadata String(string key, string value) => Add(key, new(GgufValueType.String, value));
    public GgufMetadata UInt32(string key, long value) =>
        value is < 0 or > uint.MaxValue ? throw new ArgumentOutOfRangeException(key, value, "not a u32") : Add(key, new(GgufValueType.UInt32, (uint)value));
    public GgufMetadata Int32(string key, int value) => Add(key, new(GgufValueType.Int32, value));
    public GgufMetadata Float32(string key, double value) => Add(key, new(GgufValueType.Float32, (float)value));
    public GgufMetadata Bool(string key, bool value) => Add(key, new(GgufValueType.Bool, value));
    public GgufMetadata Strings(string key, IReadOnlyList<string> values) => Add(key, new(GgufValueType.Array, values, GgufValueType.String));
    public GgufMetadata Int32s(string key, IReadOnlyList<int> values) => Add(key, new(GgufValueType.Array, values, GgufValueType.Int32));
    public GgufMetadata Float32s(string key, IReadOnlyList<float> values) => Add(key, new(GgufValueType.Array, values, GgufValueType.Float32));
}
