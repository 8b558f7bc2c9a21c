using System.Text;

namespace FineTuneLab.Trainer.Export.Gguf;

/// <summary>
/// Writes a GGUF v3 file (ggml's gguf.h layout): magic, version, tensor and metadata counts, the typed key/value
/// pairs, the tensor infos (name, dims, type, offset into the data section), padding to the alignment, then each
/// tensor's bytes padded to the alignment. Little-endian throughout. The file is written beside its target and
/// renamed over it, so a reader never sees half a model.
/// </summary>
public static class GgufWriter
{
    public const uint Magic = 0x46554747; // "GGUF" read as a little-endian u32
    public const uint Version = 3;
    public const int Alignment = 32;

    public static void Write(string path, GgufMetadata metadata, IReadOnlyList<GgufTensor> tensors)
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var t in tensors)
        {
            if (!names.Add(t.Name)) throw new ArgumentException($"{path}: tensor '{t.Name}' is written twice");
            if (t.Dims.Length is < 1 or > 4 || t.Dims.Any(d => d <= 0)) throw new ArgumentException($"{path}: tensor '{t.Name}' has dims [{string.Join(", ", t.Dims)}]");
        }
        var full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        var temp = $"{full}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp";
        try
        {
            using (var stream = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20))
            using (var w = new BinaryWriter(stream, Encoding.UTF8, leaveOpen: true))
            {
                w.Write(Magic);
                w.Write(Version);
                w.Write((ulong)tensors.Count);
                w.Write((ulong)metadata.Items.Count);
                foreach (var (key, value) in metadata.Items)
                {
                    WriteString(w, key);
                    w.Write((uint)value.Type);
                    WriteValue(w, value);
                }
                long offset = 0;
                foreach (var t in tensors)
                {
                    WriteString(w, t.Name);
                    w.Write((uint)t.Dims.Length);
                    foreach (var d in t.Dims) w.Write((ulong)d);
                    w.Write((uint)t.Type);
                    w.Write((ulong)offset);
                    offset += Align(t.ByteCount);
                }
                w.Flush();
                Pad(stream);
                foreach (var t in tensors)
                {
                    var bytes = t.Encode();
                    if (bytes.LongLength != t.ByteCount)
                        throw new InvalidOperationException($"tensor '{t.Name}' ({t.Type.Name()} [{string.Join(", ", t.Dims)}]) encoded to {bytes.LongLength} bytes, expected {t.ByteCount}");
                    stream.Write(bytes);
                    Pad(stream);
                }
            }
            File.Move(temp, full, overwrite: true);
        }
        finally
        {
            if (File.Exists(temp)) File.Delete(temp);
        }
    }

    private static long Align(long n) => (n + Alignment - 1) / Alignment * Alignment;

    private static void Pad(Stream s)
    {
        var pad = (int)(Align(s.Position) - s.Position);
        if (pad > 0) s.Write(new byte[pad]);
    }

    private static void WriteString(BinaryWriter w, string s)
    {
        var bytes = Encoding.UTF8.GetBytes(s);
        w.Write((ulong)bytes.Length);
        w.Write(bytes);
    }

    private static void WriteValue(BinaryWriter w, GgufValue v)
    {
        switch (v.Type)
        {
            case GgufValueType.UInt32: w.Write((uint)v.Value); break;
            case GgufValueType.Int32: w.Write((int)v.Value); break;
            case GgufValueType.Float32: w.Write((float)v.Value); break;
            case GgufValueType.Bool: w.Write((bool)v.Value ? (byte)1 : (byte)0); break;
            case GgufValueType.String: WriteString(w, (string)v.Value); break;
            case GgufValueType.Array:
                w.Write((uint)v.ElementType);
                switch (v.ElementType)
                {
                    case GgufValueType.String:
                        var strings = (IReadOnlyList<string>)v.Value;
                        w.Write((ulong)strings.Count);
                        foreach (var s in strings) WriteString(w, s);
                        break;
                    case GgufValueType.Int32:
                        var ints = (IReadOnlyList<int>)v.Value;
                        w.Write((ulong)ints.Count);
                        foreach (var i in ints) w.Write(i);
                        break;
                    case GgufValueType.Float32:
                        var floats = (IReadOnlyList<float>)v.Value;
                        w.Write((ulong)floats.Count);
                        foreach (var f in floats) w.Write(f);
                        break;
                    default: throw new NotSupportedException($"GGUF arrays of {v.ElementType}");
                }
                break;
            default: throw new NotSupportedException($"GGUF values of type {v.Type}");
        }
    }
}
