using System.Text.Json;

namespace FineTuneLab.Trainer.Formats;

/// <summary>
/// The weights of a Hugging Face model folder: a single <c>model.safetensors</c>, shards listed by
/// <c>model.safetensors.index.json</c>, or one explicit file. Every file stays memory-mapped while the store is open.
/// </summary>
public sealed class SafeTensorStore : IDisposable
{
    public const string IndexFileName = "model.safetensors.index.json";
    public const string SingleFileName = "model.safetensors";

    private readonly List<SafeTensorFile> _files;
    private readonly Dictionary<string, SafeTensorFile> _owner;

    public string Location { get; }
    public IEnumerable<string> Names => _owner.Keys;
    public IReadOnlyList<SafeTensorFile> Files => _files;

    private SafeTensorStore(string location, List<SafeTensorFile> files, Dictionary<string, SafeTensorFile> owner)
    {
        Location = location;
        _files = files;
        _owner = owner;
    }

    /// <summary>Opens a .safetensors file or a model folder (index + shards, or model.safetensors).</summary>
    public static SafeTensorStore Open(string path)
    {
        path = Path.GetFullPath(path);
        if (File.Exists(path)) return FromFiles(path, [path], index: null);
        if (!Directory.Exists(path)) throw new FileNotFoundException($"no safetensors file or model folder at {path}", path);

        var indexPath = Path.Combine(path, IndexFileName);
        if (File.Exists(indexPath))
        {
            var weightMap = ReadIndex(indexPath);
            var shards = weightMap.Values.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal)
                .Select(f => Path.Combine(path, f)).ToList();
            foreach (var shard in shards)
                if (!File.Exists(shard))
                    throw new FileNotFoundException($"{indexPath}: shard '{Path.GetFileName(shard)}' listed in weight_map does not exist", shard);
            return FromFiles(path, shards, (indexPath, weightMap));
        }
        var single = Path.Combine(path, SingleFileName);
        if (File.Exists(single)) return FromFiles(path, [single], index: null);
        throw new FileNotFoundException($"{path}: neither {SingleFileName} nor {IndexFileName} found", single);
    }

    private static Dictionary<string, string> ReadIndex(string indexPath)
    {
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllBytes(indexPath));
            if (!doc.RootElement.TryGetProperty("weight_map", out var map) || map.ValueKind != JsonValueKind.Object)
                throw new SafeTensorsFormatException($"{indexPath}: missing object field 'weight_map'");
            var result = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var e in map.EnumerateObject())
            {
                if (e.Value.ValueKind != JsonValueKind.String)
                    throw new SafeTensorsFormatException($"{indexPath}: weight_map['{e.Name}'] must be a file name");
                var file = e.Value.GetString()!;
                if (file.Contains('/') || file.Contains('\\') || file is "." or "..")
                    throw new SafeTensorsFormatException($"{indexPath}: weight_map['{e.Name}'] = '{file}' must be a file in the same folder");
                result[e.Name] = file;
            }
            return result;
        }
        catch (JsonException e)
        {
            throw new SafeTensorsFormatException($"{indexPath}: not valid JSON: {e.Message}");
        }
    }

    private static SafeTensorStore FromFiles(string location, List<string> paths, (string Path, Dictionary<string, string> Map)? index)
    {
        var files = new List<SafeTensorFile>();
        try
        {
            var owner = new Dictionary<string, SafeTensorFile>(StringComparer.Ordinal);
            foreach (var p in paths)
            {
                var file = SafeTensorFile.Open(p);
                files.Add(file);
                foreach (var name in file.Tensors.Keys)
                {
                    if (owner.TryGetValue(name, out var other))
                        throw new SafeTensorsFormatException($"tensor '{name}' appears in both {other.Path} and {file.Path}");
                    owner[name] = file;
                }
            }
            if (index is { } ix)
            {
                foreach (var (name, fileName) in ix.Map)
                {
                    if (!owner.TryGetValue(name, out var f))
                        throw new SafeTensorsFormatException($"{ix.Path}: tensor '{name}' is listed in '{fileName}' but no shard holds it");
                    if (Path.GetFileName(f.Path) != fileName)
                        throw new SafeTensorsFormatException($"{ix.Path}: tensor '{name}' is listed in '{fileName}' but lies in '{Path.GetFileName(f.Path)}'");
                }
            }
            return new SafeTensorStore(location, files, owner);
        }
        catch
        {
            foreach (var f in files) f.Dispose();
            throw;
        }
    }

    public bool Contains(string name) => _owner.ContainsKey(name);

    public SafeTensorInfo Get(string name) =>
        _owner.TryGetValue(name, out var f) ? f.Get(name)
            : throw new SafeTensorsFormatException($"{Location}: tensor '{name}' not found (the model's weights have {_owner.Count} tensors)");

    public SafeTensorFile FileOf(string name) =>
        _owner.TryGetValue(name, out var f) ? f : throw new SafeTensorsFormatException($"{Location}: tensor '{name}' not found");

    /// <summary>Reads a floating-point tensor as fp32, checking its shape first (the error names the tensor and both shapes).</summary>
    public void ReadFloat32(string name, Span<float> destination, params long[] expectedShape)
    {
        var info = Get(name);
        if (expectedShape.Length > 0 && !info.Shape.AsSpan().SequenceEqual(expectedShape))
            throw new SafeTensorsFormatException($"{info.File}: tensor '{name}' has shape {info.ShapeText}, expected [{string.Join(", ", expectedShape)}]");
        FileOf(name).ReadFloat32(name, destination);
    }

    public float[] ReadFloat32(string name) => FileOf(name).ReadFloat32(name);

    public void Dispose()
    {
        foreach (var f in _files) f.Dispose();
    }
}
