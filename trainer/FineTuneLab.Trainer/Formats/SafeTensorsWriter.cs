using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text.Json;

namespace FineTuneLab.Trainer.Formats;

/// <summary>One tensor to write: little-endian bytes of <paramref name="DType"/> in row-major order.</summary>
public sealed record SafeTensorWriteItem(string Name, SafeTensorDType DType, long[] Shape, ReadOnlyMemory<byte> Data)
{
    public static SafeTensorWriteItem Float32(string name, ReadOnlySpan<float> values, params long[] shape) =>
        new(name, SafeTensorDType.F32, shape, MemoryMarshal.AsBytes(values).ToArray());

    public static SafeTensorWriteItem BFloat16(string name, ReadOnlySpan<float> values, params long[] shape)
    {
        var bits = new ushort[values.Length];
        ElementConversion.Float32ToBFloat16(values, bits);
        return new(name, SafeTensorDType.BF16, shape, MemoryMarshal.AsBytes(bits.AsSpan()).ToArray());
    }
}

/// <summary>
/// Writes a .safetensors file as the reference implementation does: header JSON padded with spaces to a multiple of
/// 8 bytes, tensors ordered by alignment then name, optional <c>__metadata__</c>. The file appears atomically
/// (written beside the target, then renamed over it).
/// </summary>
public static class SafeTensorsWriter
{
    public static void Write(string path, IEnumerable<SafeTensorWriteItem> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var items = tensors.OrderByDescending(t => t.DType.ElementSize()).ThenBy(t => t.Name, StringComparer.Ordinal).ToList();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var t in items)
        {
            if (t.Name == "__metadata__" || !seen.Add(t.Name))
                throw new ArgumentException($"{path}: tensor name '{t.Name}' is reserved or repeated");
            long expected = t.Shape.Aggregate(1L, (a, b) => a * b) * t.DType.ElementSize();
            if (expected != t.Data.Length)
                throw new ArgumentException($"{path}: tensor '{t.Name}' {t.DType} [{string.Join(", ", t.Shape)}] needs {expected} bytes, got {t.Data.Length}");
        }

        var header = new MemoryStream();
        using (var json = new Utf8JsonWriter(header))
        {
            json.WriteStartObject();
            if (metadata is not null)
            {
                json.WriteStartObject("__metadata__");
                foreach (var (k, v) in metadata) json.WriteString(k, v);
                json.WriteEndObject();
            }
            long offset = 0;
            foreach (var t in items)
            {
                json.WriteStartObject(t.Name);
                json.WriteString("dtype", t.DType.ToString());
                json.WriteStartArray("shape");
                foreach (var d in t.Shape) json.WriteNumberValue(d);
                json.WriteEndArray();
                json.WriteStartArray("data_offsets");
                json.WriteNumberValue(offset);
                json.WriteNumberValue(offset + t.Data.Length);
                json.WriteEndArray();
                json.WriteEndObject();
                offset += t.Data.Length;
            }
            json.WriteEndObject();
        }
        while (header.Length % 8 != 0) header.WriteByte((byte)' ');

        var full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        var temp = full + $".tmp-{Environment.ProcessId}";
        try
        {
            using (var stream = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20))
            {
                Span<byte> len = stackalloc byte[8];
                BinaryPrimitives.WriteUInt64LittleEndian(len, (ulong)header.Length);
                stream.Write(len);
                stream.Write(header.GetBuffer(), 0, (int)header.Length);
                foreach (var t in items) stream.Write(t.Data.Span);
                stream.Flush(flushToDisk: true);
            }
            File.Move(temp, full, overwrite: true);
        }
        catch
        {
            File.Delete(temp);
            throw;
        }
    }
}
