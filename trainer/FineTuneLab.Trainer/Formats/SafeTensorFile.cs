using System.IO.MemoryMappedFiles;
using System.Runtime.InteropServices;
using System.Text.Json;

namespace FineTuneLab.Trainer.Formats;

/// <summary>
/// One .safetensors file, memory-mapped read-only: the header is parsed and validated up front (offsets in bounds,
/// contiguous, sizes matching dtype × shape, as the reference implementation requires); tensor bytes are read
/// straight from the mapping, so opening a multi-gigabyte checkpoint costs no copy.
/// </summary>
public sealed unsafe class SafeTensorFile : IDisposable
{
    /// <summary>The reference implementation refuses headers over 100 MB; so do we (a corrupt length would otherwise allocate wildly).</summary>
    private const long MaxHeaderBytes = 100_000_000;

    private readonly MemoryMappedFile? _map;
    private readonly MemoryMappedViewAccessor? _view;
    private readonly byte* _base;
    private readonly long _dataStart;
    private readonly Dictionary<string, SafeTensorInfo> _tensors;
    private bool _disposed;

    public string Path { get; }
    public IReadOnlyDictionary<string, string> Metadata { get; }
    public IReadOnlyDictionary<string, SafeTensorInfo> Tensors => _tensors;

    private SafeTensorFile(string path, MemoryMappedFile? map, MemoryMappedViewAccessor? view, byte* basePtr, long dataStart,
        Dictionary<string, SafeTensorInfo> tensors, Dictionary<string, string> metadata)
    {
        Path = path;
        _map = map;
        _view = view;
        _base = basePtr;
        _dataStart = dataStart;
        _tensors = tensors;
        Metadata = metadata;
    }

    public static SafeTensorFile Open(string path)
    {
        path = System.IO.Path.GetFullPath(path);
        if (!File.Exists(path)) throw new FileNotFoundException($"safetensors file not found: {path}", path);
        long length = new FileInfo(path).Length;
        if (length < 8) throw new SafeTensorsFormatException($"{path}: {length} bytes is too short for a safetensors file (needs an 8-byte header length)");

        var map = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
        MemoryMappedViewAccessor? view = null;
        try
        {
            view = map.CreateViewAccessor(0, length, MemoryMappedFileAccess.Read);
            byte* ptr = null;
            view.SafeMemoryMappedViewHandle.AcquirePointer(ref ptr);
            ptr += view.PointerOffset;
            ulong headerLength = BitConverter.IsLittleEndian ? *(ulong*)ptr : System.Buffers.Binary.BinaryPrimitives.ReverseEndianness(*(ulong*)ptr);
            if (headerLength > MaxHeaderBytes || (long)headerLength > length - 8)
                throw new SafeTensorsFormatException($"{path}: header length {headerLength} does not fit the file ({length} bytes)");
            long dataStart = 8 + (long)headerLength;
            var headerBytes = new ReadOnlySpan<byte>(ptr + 8, (int)headerLength);
            var (tensors, metadata) = ParseHeader(path, headerBytes, length - dataStart);
            return new SafeTensorFile(path, map, view, ptr, dataStart, tensors, metadata);
        }
        catch
        {
            if (view is not null)
            {
                view.SafeMemoryMappedViewHandle.ReleasePointer();
                view.Dispose();
            }
            map.Dispose();
            throw;
        }
    }

    private static (Dictionary<string, SafeTensorInfo>, Dictionary<string, string>) ParseHeader(string path, ReadOnlySpan<byte> header, long dataLength)
    {
        if (Utf8Text.Problem(header) is { } notUtf8) throw new SafeTensorsFormatException($"{path}: the header is {notUtf8}");
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(header.ToArray());
        }
        catch (JsonException e)
        {
            throw new SafeTensorsFormatException($"{path}: header is not valid JSON: {e.Message}");
        }
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
                throw new SafeTensorsFormatException($"{path}: header must be a JSON object, found {doc.RootElement.ValueKind}");
            var tensors = new Dictionary<string, SafeTensorInfo>(StringComparer.Ordinal);
            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var entry in doc.RootElement.EnumerateObject())
            {
                if (entry.Name == "__metadata__")
                {
                    if (entry.Value.ValueKind != JsonValueKind.Object)
                        throw new SafeTensorsFormatException($"{path}: __metadata__ must be an object of strings");
                    foreach (var m in entry.Value.EnumerateObject())
                    {
                        if (m.Value.ValueKind != JsonValueKind.String)
                            throw new SafeTensorsFormatException($"{path}: __metadata__ value '{m.Name}' must be a string");
                        metadata[m.Name] = m.Value.GetString()!;
                    }
                    continue;
                }
                tensors[entry.Name] = ParseEntry(path, entry.Name, entry.Value);
            }
            ValidateLayout(path, tensors.Values, dataLength);
            return (tensors, metadata);
        }
    }

    private static SafeTensorInfo ParseEntry(string path, string name, JsonElement e)
    {
        string Where() => $"{path}: tensor '{name}'";
        if (e.ValueKind != JsonValueKind.Object) throw new SafeTensorsFormatException($"{Where()}: entry must be an object");
        if (!e.TryGetProperty("dtype", out var dt) || dt.ValueKind != JsonValueKind.String)
            throw new SafeTensorsFormatException($"{Where()}: missing string field 'dtype'");
        if (!SafeTensorDTypes.TryParse(dt.GetString()!, out var dtype))
            throw new SafeTensorsFormatException($"{Where()}: unknown dtype '{dt.GetString()}'");
        if (!e.TryGetProperty("shape", out var sh) || sh.ValueKind != JsonValueKind.Array)
            throw new SafeTensorsFormatException($"{Where()}: missing array field 'shape'");
        var shape = new long[sh.GetArrayLength()];
        int i = 0;
        foreach (var d in sh.EnumerateArray())
        {
            if (d.ValueKind != JsonValueKind.Number || !d.TryGetInt64(out var v) || v < 0)
                throw new SafeTensorsFormatException($"{Where()}: shape entries must be non-negative integers");
            shape[i++] = v;
        }
        if (!e.TryGetProperty("data_offsets", out var off) || off.ValueKind != JsonValueKind.Array || off.GetArrayLength() != 2)
            throw new SafeTensorsFormatException($"{Where()}: missing field 'data_offsets' [begin, end]");
        if (!off[0].TryGetInt64(out var begin) || !off[1].TryGetInt64(out var end) || begin < 0 || end < begin)
            throw new SafeTensorsFormatException($"{Where()}: data_offsets must be integers with 0 <= begin <= end");
        var info = new SafeTensorInfo(name, dtype, shape, begin, end, path);
        long expected;
        try
        {
            expected = checked(info.ElementCount * dtype.ElementSize());
        }
        catch (OverflowException)
        {
            throw new SafeTensorsFormatException($"{Where()}: shape {info.ShapeText} is too large");
        }
        if (expected != info.ByteLength)
            throw new SafeTensorsFormatException($"{Where()}: {dtype} {info.ShapeText} needs {expected} bytes but data_offsets span {info.ByteLength}");
        return info;
    }

    private static void ValidateLayout(string path, IEnumerable<SafeTensorInfo> tensors, long dataLength)
    {
        long cursor = 0;
        foreach (var t in tensors.OrderBy(t => t.Begin).ThenBy(t => t.End))
        {
            if (t.End > dataLength)
                throw new SafeTensorsFormatException($"{path}: tensor '{t.Name}' ends at data byte {t.End} but the file holds only {dataLength} (truncated?)");
            if (t.Begin != cursor)
                throw new SafeTensorsFormatException(t.Begin < cursor
                    ? $"{path}: tensor '{t.Name}' overlaps the previous tensor (begins at {t.Begin}, previous ends at {cursor})"
                    : $"{path}: tensor '{t.Name}' begins at {t.Begin}, leaving a gap after byte {cursor}");
            cursor = t.End;
        }
        if (cursor != dataLength)
            throw new SafeTensorsFormatException(cursor > dataLength
                ? $"{path}: tensors need {cursor} data bytes but the file holds only {dataLength} (truncated?)"
                : $"{path}: {dataLength - cursor} bytes after the last tensor are not described by the header");
    }

    public SafeTensorInfo Get(string name) =>
        _tensors.TryGetValue(name, out var t) ? t : throw new KeyNotFoundException($"{Path}: no tensor named '{name}'");

    /// <summary>The raw little-endian bytes of a tensor, straight from the mapping (valid until this file is disposed).</summary>
    public byte* Pointer(string name)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        return _base + _dataStart + Get(name).Begin;
    }

    public ReadOnlySpan<byte> Bytes(string name)
    {
        var t = Get(name);
        if (t.ByteLength > int.MaxValue)
            throw new InvalidOperationException($"{Path}: tensor '{name}' ({t.ByteLength} bytes) is too large for a span; use Pointer()");
        return new ReadOnlySpan<byte>(Pointer(name), (int)t.ByteLength);
    }

    /// <summary>Converts a floating-point tensor (F32, BF16, F16, F64) into fp32.</summary>
    public void ReadFloat32(string name, Span<float> destination)
    {
        var t = Get(name);
        if (destination.Length != t.ElementCount)
            throw new ArgumentException($"{Path}: tensor '{name}' has {t.ElementCount} elements {t.ShapeText}, destination holds {destination.Length}");
        ElementConversion.ToFloat32(t.DType, Pointer(name), destination, $"{Path}: tensor '{name}'");
    }

    public float[] ReadFloat32(string name)
    {
        var result = new float[Get(name).ElementCount];
        ReadFloat32(name, result);
        return result;
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        if (_view is not null)
        {
            _view.SafeMemoryMappedViewHandle.ReleasePointer();
            _view.Dispose();
        }
        _map?.Dispose();
    }
}
