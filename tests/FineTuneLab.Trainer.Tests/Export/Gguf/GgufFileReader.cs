using System.Text;

namespace FineTuneLab.Trainer.Tests.Export.Gguf;

/// <summary>A GGUF v3 file read back independently of our writer: metadata values (scalars, strings, arrays) and each tensor's type, dims and bytes.</summary>
internal sealed class GgufFileReader
{
    public sealed record TensorEntry(string Name, uint Type, long[] Dims, byte[] Data);

    public Dictionary<string, object> Metadata { get; } = new(StringComparer.Ordinal);
    public Dictionary<string, TensorEntry> Tensors { get; } = new(StringComparer.Ordinal);
    public List<string> TensorOrder { get; } = [];

    public static GgufFileReader Read(string path, bool withData = true)
    {
        var r = new GgufFileReader();
        var bytes = File.ReadAllBytes(path);
        using var br = new BinaryReader(new MemoryStream(bytes), Encoding.UTF8);
        if (br.ReadUInt32() != 0x46554747) throw new InvalidDataException($"{path}: not GGUF");
        if (br.ReadUInt32() != 3) throw new InvalidDataException($"{path}: not version 3");
        long nTensors = (long)br.ReadUInt64(), nKv = (long)br.ReadUInt64();
        for (long i = 0; i < nKv; i++)
        {
            var key = Str(br);
            r.Metadata[key] = Value(br, br.ReadUInt32());
        }
        var infos = new List<(string Name, long[] Dims, uint Type, ulong Offset)>();
        for (long i = 0; i < nTensors; i++)
        {
            var name = Str(br);
            var dims = new long[br.ReadUInt32()];
            for (int d = 0; d < dims.Length; d++) dims[d] = (long)br.ReadUInt64();
            infos.Add((name, dims, br.ReadUInt32(), br.ReadUInt64()));
        }
        long alignment = r.Metadata.TryGetValue("general.alignment", out var a) ? Convert.ToInt64(a) : 32;
        long dataStart = (br.BaseStream.Position + alignment - 1) / alignment * alignment;
        for (int i = 0; i < infos.Count; i++)
        {
            var (name, dims, type, offset) = infos[i];
            long end = i + 1 < infos.Count ? (long)infos[i + 1].Offset : bytes.Length - dataStart;
            var data = withData ? bytes.AsSpan((int)(dataStart + (long)offset), (int)(end - (long)offset)).ToArray() : [];
            r.Tensors[name] = new TensorEntry(name, type, dims, data);
            r.TensorOrder.Add(name);
        }
        return r;
    }

    private static string Str(BinaryReader br) => Encoding.UTF8.GetString(br.ReadBytes((int)br.ReadUInt64()));

    private static object Value(BinaryReader br, uint type) => type switch
    {
        0 => br.ReadByte(), 1 => br.ReadSByte(), 2 => br.ReadUInt16(), 3 => br.ReadInt16(), 4 => br.ReadUInt32(), 5 => br.ReadInt32(),
        6 => br.ReadSingle(), 7 => br.ReadByte() != 0, 8 => Str(br), 10 => br.ReadUInt64(), 11 => br.ReadInt64(), 12 => br.ReadDouble(),
        9 => Array(br),
        _ => throw new InvalidDataException($"GGUF value type {type}"),
    };

    private static object[] Array(BinaryReader br)
    {
        var type = br.ReadUInt32();
        var n = (long)br.ReadUInt64();
        var items = new object[n];
        for (long i = 0; i < n; i++) items[i] = Value(br, type);
        return items;
    }
}
