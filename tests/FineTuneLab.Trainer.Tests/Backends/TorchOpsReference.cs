using System.Security.Cryptography;
using System.Text.Json;
using FineTuneLab.TestSupport;

namespace FineTuneLab.Trainer.Tests.Backends;

/// <summary>
/// The reference cases scripts/torch_ops_ref.py computes with PyTorch, generated once per version of the script
/// (cached under .cache/torch-ops-HASH) and read back as arrays.
/// </summary>
public sealed class TorchOpsReference
{
    private static readonly Lazy<TorchOpsReference> Shared = new(Load, LazyThreadSafetyMode.ExecutionAndPublication);

    private readonly JsonElement _cases;
    private readonly byte[] _data;

    private TorchOpsReference(JsonElement cases, byte[] data)
    {
        _cases = cases;
        _data = data;
    }

    public static TorchOpsReference Instance => Shared.Value;

    public sealed record Entry(string DType, int[] Shape, int Offset)
    {
        public int Count => Shape.Aggregate(1, (a, b) => a * b);
    }

    public Entry Get(string caseName, string tensor)
    {
        if (!_cases.TryGetProperty(caseName, out var c))
            throw new KeyNotFoundException($"reference case '{caseName}' not found");
        if (!c.GetProperty("tensors").TryGetProperty(tensor, out var t))
            throw new KeyNotFoundException($"reference tensor '{caseName}.{tensor}' not found");
        return new Entry(t.GetProperty("dtype").GetString()!, t.GetProperty("shape").EnumerateArray().Select(e => e.GetInt32()).ToArray(),
            t.GetProperty("offset").GetInt32());
    }

    public bool Has(string caseName, string tensor) =>
        _cases.TryGetProperty(caseName, out var c) && c.GetProperty("tensors").TryGetProperty(tensor, out _);

    public double Param(string caseName, string name) => _cases.GetProperty(caseName).GetProperty("params").GetProperty(name).GetDouble();
    public bool Flag(string caseName, string name) => _cases.GetProperty(caseName).GetProperty("params").GetProperty(name).GetBoolean();

    public float[] F32(string caseName, string tensor) => Read<float>(caseName, tensor, "f32");
    public int[] I32(string caseName, string tensor) => Read<int>(caseName, tensor, "i32");
    public ushort[] U16(string caseName, string tensor) => Read<ushort>(caseName, tensor, "u16");
    public int[] Shape(string caseName, string tensor) => Get(caseName, tensor).Shape;

    private T[] Read<T>(string caseName, string tensor, string dtype) where T : unmanaged
    {
        var e = Get(caseName, tensor);
        if (e.DType != dtype) throw new InvalidOperationException($"{caseName}.{tensor} is {e.DType}, not {dtype}");
        var size = System.Runtime.InteropServices.Marshal.SizeOf<T>();
        var result = new T[e.Count];
        _data.AsSpan(e.Offset, e.Count * size).CopyTo(System.Runtime.InteropServices.MemoryMarshal.AsBytes(result.AsSpan()));
        return result;
    }

    private static TorchOpsReference Load()
    {
        var script = Path.Combine(RepoPaths.Scripts, "torch_ops_ref.py");
        var hash = Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(script)))[..16].ToLowerInvariant();
        var dir = Path.Combine(RepoPaths.Cache, $"torch-ops-{hash}");
        var index = Path.Combine(dir, "index.json");
        if (!File.Exists(index))
        {
            var tmp = dir + $".tmp-{Environment.ProcessId}-{Guid.NewGuid():N}";
            ExternalProcess.PythonAsync(script, tmp).GetAwaiter().GetResult().EnsureSuccess("scripts/torch_ops_ref.py");
            try
            {
                Directory.Move(tmp, dir);
            }
            catch (IOException) when (File.Exists(index))
            {
                Directory.Delete(tmp, recursive: true); // another test process generated it first
            }
        }
        using var doc = JsonDocument.Parse(File.ReadAllText(index));
        return new TorchOpsReference(doc.RootElement.GetProperty("cases").Clone(), File.ReadAllBytes(Path.Combine(dir, "data.bin")));
    }
}
