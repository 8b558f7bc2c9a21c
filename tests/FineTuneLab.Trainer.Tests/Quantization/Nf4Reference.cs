using System.Security.Cryptography;
using FineTuneLab.TestSupport;
using FineTuneLab.Trainer.Formats;

namespace FineTuneLab.Trainer.Tests.Quantization;

/// <summary>scripts/nf4_ref.py's cases (PyTorch, the published algorithm), generated once into the cache keyed by the script's hash.</summary>
public sealed class Nf4Reference : IDisposable
{
    public static readonly string[] CaseNames = ["normal", "heavy", "odd", "bf16", "zeros", "big"];

    public Nf4Reference()
    {
        var script = Path.Combine(RepoPaths.Scripts, "nf4_ref.py");
        var hash = Convert.ToHexString(SHA256.HashData(System.IO.File.ReadAllBytes(script)))[..16].ToLowerInvariant();
        var root = Path.Combine(RepoPaths.Cache, $"nf4_ref-{hash}");
        if (!System.IO.File.Exists(Path.Combine(root, "cases.safetensors")))
            ExternalProcess.PythonAsync(script, "--out", root).GetAwaiter().GetResult().EnsureSuccess("nf4_ref.py");
        Cases = SafeTensorFile.Open(Path.Combine(root, "cases.safetensors"));
    }

    public SafeTensorFile Cases { get; }

    public float[] Floats(string name) => Cases.ReadFloat32(name);
    public byte[] Bytes(string name) => Cases.Bytes(name).ToArray();
    public long[] Shape(string name) => Cases.Get(name).Shape;

    public void Dispose() => Cases.Dispose();
}
