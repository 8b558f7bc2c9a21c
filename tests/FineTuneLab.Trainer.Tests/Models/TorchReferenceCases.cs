using System.Security.Cryptography;
using System.Text.Json;
using FineTuneLab.TestSupport;
using FineTuneLab.Trainer.Models;
using FineTuneLab.Trainer.Training;

namespace FineTuneLab.Trainer.Tests.Models;

/// <summary>
/// The reference cases of scripts/torch_ref_model.py (HF-format tiny models, tokens, LoRA init, PyTorch's logits,
/// loss, gradients and AdamW results), generated once into RepoPaths.Cache keyed by the script's content hash.
/// </summary>
public sealed class TorchReferenceCases
{
    public TorchReferenceCases()
    {
        var script = Path.Combine(RepoPaths.Scripts, "torch_ref_model.py");
        var hash = Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(script)))[..16].ToLowerInvariant();
        Root = Path.Combine(RepoPaths.Cache, $"torch_ref_model-{hash}");
        if (!Directory.Exists(Root))
            ExternalProcess.PythonAsync(script, "--out", Root).GetAwaiter().GetResult().EnsureSuccess("torch_ref_model.py");
    }

    public string Root { get; }

    public Case Get(string name) => new(Path.Combine(Root, name));

    public sealed class Case
    {
        public Case(string dir)
        {
            Dir = dir;
            using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "case.json")));
            var lora = doc.RootElement.GetProperty("lora");
            Lora = new LoraOptions(lora.GetProperty("r").GetInt32(), lora.GetProperty("alpha").GetDouble(),
                lora.GetProperty("target_modules").EnumerateArray().Select(e => e.GetString()!).ToList(),
                (float)lora.GetProperty("dropout").GetDouble(), lora.GetProperty("use_rslora").GetBoolean());
            var o = doc.RootElement.GetProperty("optim");
            var betas = o.GetProperty("betas");
            Optimizer = new OptimizerSettings((float)o.GetProperty("lr").GetDouble(), (float)betas[0].GetDouble(), (float)betas[1].GetDouble(),
                (float)o.GetProperty("eps").GetDouble(), (float)o.GetProperty("weight_decay").GetDouble(), (float)o.GetProperty("max_grad_norm").GetDouble());
            Steps = o.GetProperty("steps").GetInt32();
            Accumulation = o.GetProperty("accum").GetInt32();
            Tokens = TokenBatch.Load(TokensPath);
        }

        public string Dir { get; }
        public string ModelDir => Path.Combine(Dir, "model");
        public string TokensPath => Path.Combine(Dir, "tokens.json");
        public string LoraInitPath => Path.Combine(Dir, "lora_init.safetensors");
        public string ExpectedPath => Path.Combine(Dir, "expected.safetensors");
        public LoraOptions Lora { get; }
        public OptimizerSettings Optimizer { get; }
        public int Steps { get; }
        public int Accumulation { get; }
        public TokenBatch Tokens { get; }
    }
}

internal static class Close
{
    /// <summary>max |actual - expected| must be within <paramref name="relative"/> of max |expected|.</summary>
    public static void Assert(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual, double relative, string what)
    {
        Xunit.Assert.Equal(expected.Length, actual.Length);
        double maxDiff = 0, maxRef = 0;
        int worst = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            Xunit.Assert.False(float.IsNaN(actual[i]), $"{what}[{i}] is NaN");
            double d = Math.Abs((double)actual[i] - expected[i]);
            if (d > maxDiff) { maxDiff = d; worst = i; }
            maxRef = Math.Max(maxRef, Math.Abs(expected[i]));
        }
        Xunit.Assert.True(maxRef > 0, $"{what}: the reference is all zeros, the comparison would be empty");
        Xunit.Assert.True(maxDiff <= relative * maxRef,
            $"{what}: max |diff| {maxDiff:G4} at [{worst}] (expected {expected[worst]:G6}, got {actual[worst]:G6}) exceeds {relative:G2} × max |ref| {maxRef:G4}");
    }
}
