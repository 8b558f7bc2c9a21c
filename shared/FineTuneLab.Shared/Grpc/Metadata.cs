using System.Collections;

namespace FineTuneLab.Shared.Grpc;

/// <summary>
/// Custom metadata: request headers, response headers or trailers. Keys are lower-case; a key ending in
/// <c>-bin</c> carries bytes (base64 on the wire), any other key an ASCII string.
/// </summary>
public sealed class Metadata : IEnumerable<Metadata.Entry>
{
    public const string BinarySuffix = "-bin";

    private readonly List<Entry> _entries = [];

    public sealed class Entry
    {
        private readonly string? _value;
        private readonly byte[]? _bytes;

        internal Entry(string key, string? value, byte[]? bytes)
        {
            Key = key;
            _value = value;
            _bytes = bytes;
        }

        public string Key { get; }
        public bool IsBinary => _bytes is not null;
        public string Value => _value ?? throw new InvalidOperationException($"metadata '{Key}' is binary; read ValueBytes");
        public byte[] ValueBytes => _bytes ?? throw new InvalidOperationException($"metadata '{Key}' is text; read Value");

        public override string ToString() => IsBinary ? $"{Key}: <{_bytes!.Length} bytes>" : $"{Key}: {_value}";
    }

    public int Count => _entries.Count;
    public Entry this[int index] => _entries[index];

    public Metadata Add(string key, string value)
    {
        key = NormalizeKey(key);
        if (IsBinaryKey(key))
            throw new ArgumentException($"metadata key '{key}' ends in -bin; add a byte[] value", nameof(key));
        foreach (var c in value)
        {
            if (c < 0x20 || c > 0x7E)
                throw new ArgumentException($"metadata '{key}' has a non-printable-ASCII character (U+{(int)c:X4}); use a -bin key for bytes", nameof(value));
        }
        _entries.Add(new Entry(key, value, null));
        return this;
    }

    public Metadata Add(string key, byte[] value)
    {
        key = NormalizeKey(key);
        if (!IsBinaryKey(key))
            throw new ArgumentException($"metadata key '{key}' must end in -bin to carry bytes", nameof(key));
        _entries.Add(new Entry(key, null, value));
        return this;
    }

    /// <summary>The last text value under <paramref name="key"/>, or null.</summary>
    public string? GetValue(string key) => Find(key) is { IsBinary: false } e ? e.Value : null;

    /// <summary>The last binary value under <paramref name="key"/> (a <c>-bin</c> key), or null.</summary>
    public byte[]? GetValueBytes(string key) => Find(key) is { IsBinary: true } e ? e.ValueBytes : null;

    public IEnumerable<Entry> GetAll(string key)
    {
        key = key.ToLowerInvariant();
        return _entries.Where(e => e.Key == key);
    }

    public IEnumerator<Entry> GetEnumerator() => _entries.GetEnumerator();
    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    public static bool IsBinaryKey(string key) => key.EndsWith(BinarySuffix, StringComparison.OrdinalIgnoreCase);

    /// <summary>Adds a header as it came off the wire: a -bin value is base64 (padding optional), anything else text.</summary>
    internal void AddFromWire(string key, string value)
    {
        key = key.ToLowerInvariant();
        if (IsBinaryKey(key))
        {
            // Several binary values may arrive comma-joined in one header.
            foreach (var part in value.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
                _entries.Add(new Entry(key, null, DecodeBase64(part, key)));
        }
        else
        {
            _entries.Add(new Entry(key, value, null));
        }
    }

    internal static string EncodeBase64(byte[] bytes) => Convert.ToBase64String(bytes);

    private static byte[] DecodeBase64(string text, string key)
    {
        var padded = (text.Length % 4) switch { 2 => text + "==", 3 => text + "=", _ => text };
        try
        {
            return Convert.FromBase64String(padded);
        }
        catch (FormatException e)
        {
            throw new RpcException(new Status(StatusCode.Internal, $"metadata '{key}' is not valid base64"), innerException: e);
        }
    }

    private Entry? Find(string key)
    {
        key = key.ToLowerInvariant();
        for (var i = _entries.Count - 1; i >= 0; i--)
        {
            if (_entries[i].Key == key)
                return _entries[i];
        }
        return null;
    }

    private static string NormalizeKey(string key)
    {
        ArgumentException.ThrowIfNullOrEmpty(key);
        key = key.ToLowerInvariant();
        foreach (var c in key)
        {
            if (!(c is >= 'a' and <= 'z' or >= '0' and <= '9' or '-' or '_' or '.'))
                throw new ArgumentException($"metadata key '{key}' may only hold 0-9 a-z - _ .", nameof(key));
        }
        if (key.StartsWith("grpc-", StringComparison.Ordinal))
            throw new ArgumentException($"metadata key '{key}' is reserved (grpc-*)", nameof(key));
        return key;
    }
}
