using System.Security.Cryptography;
using FineTuneLab.TestSupport;
using FineTuneLab.Trainer.Backends.Cpu;
using FineTuneLab.Trainer.Formats;
using FineTuneLab.Trainer.Models;
using FineTuneLab.Trainer.Tests.Models;
using FineTuneLab.Trainer.Training.Dpo;

namespace FineTuneLab.Trainer.Tests.Dpo;

/// <summary>scripts/torch_ref_dpo.py's case, generated once into the cache keyed by the hashes of it and the model code it uses.</summary>
public sealed class DpoReferenceCase
{
    public DpoReferenceCase()
    {
        var script = Path.Combine(RepoPaths.Scripts, "torch_ref_dpo.py");
        var bytes = File.ReadAllBytes(script).Concat(File.ReadAllBytes(Path.Combine(RepoPaths.Scripts, "torch_ref_model.py"))).ToArray();
        var hash = Convert.ToHexString(SHA256.HashData(bytes))[..16].ToLowerInvariant();
        Dir = Path.Combine(RepoPaths.Cache, $"torch_ref_dpo-{hash}");
        if (!File.Exists(Path.Combine(Dir, "case.json")))
            ExternalProcess.PythonAsync(script, "--out", Dir).GetAwaiter().GetResult().EnsureSuccess("torch_ref_dpo.py");
    }

    public string Dir { get; }
    public string ModelDir => Path.Combine(Dir, "model");
    public string PairsPath => Path.Combine(Dir, "pairs.json");
    public string LoraInitPath => Path.Combine(Dir, "lora_init.safetensors");
    public string ExpectedPath => Path.Combine(Dir, "expected.safetensors");
}

public sealed class DpoReferenceTests(DpoReferenceCase c) : IClassFixture<DpoReferenceCase>
{
    private static readonly LoraOptions Lora = new(4, 8, LoraOptions.LlamaAllLinear);

    private static void AssertMatches(string expectedPath, DpoMetrics m, IReadOnlyDictionary<string, (float[] Values, long[] Shape)> grads)
    {
        using var expected = SafeTensorFile.Open(expectedPath);
        foreach (var (name, value) in new[] { ("loss", m.Loss), ("reward_margin", m.RewardMargin), ("chosen_reward", m.ChosenReward), ("rejected_reward", m.RejectedReward) })
        {
            double e = expected.ReadFloat32(name)[0];
            Assert.True(Math.Abs(value - e) <= 1e-4 * Math.Max(1, Math.Abs(e)), $"{name}: {value} vs torch {e}");
        }
        Assert.Equal(expected.ReadFloat32("accuracy")[0], m.Accuracy, 6);
        var keys = expected.Tensors.Keys.Where(k => k.StartsWith("grad.", StringComparison.Ordinal)).ToList();
        Assert.Equal(keys.Count, grads.Count);
        foreach (var key in keys)
            Close.Assert(expected.ReadFloat32(key), grads[key["grad.".Length..]].Values, 1e-3, key);
    }

    private static void AssertMetricsMatch(string expectedPath, DpoMetrics m, string what)
    {
        using var expected = SafeTensorFile.Open(expectedPath);
        foreach (var (name, value) in new[] { ("loss", m.Loss), ("reward_margin", m.RewardMargin), ("chosen_reward", m.ChosenReward), ("rejected_reward", m.RejectedReward) })
        {
            double e = expected.ReadFloat32(name)[0];
            Assert.True(Math.Abs(value - e) <= 1e-4 * Math.Max(1, Math.Abs(e)), $"{what} {name}: {value} vs torch {e}");
        }
        Assert.Equal(expected.ReadFloat32("accuracy")[0], m.Accuracy, 6);
    }

    // torch runs the five pairs as one right-padded batch of ten rows; the training step's gradient is the mean over
    // all five (one step of five pairs, whatever the micro-batching), and the evaluation pads them 1, 2+2+1 or 5 at a time
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(5)]
    public void Loss_metrics_and_LoRA_gradients_match_torch(int batchPairs)
    {
        using var backend = new CpuBackend(2);
        var pairs = DpoPair.LoadJson(c.PairsPath);
        var r = DebugDpo.Run(backend, c.ModelDir, pairs, Lora, 0.1f, c.LoraInitPath, batchPairs: batchPairs);
        Assert.Equal(5, r.Metrics.Pairs);
        Assert.Equal(5, r.Evaluation.Pairs);
        AssertMatches(c.ExpectedPath, r.Metrics, r.Gradients);
        AssertMetricsMatch(c.ExpectedPath, r.Evaluation, $"evaluation in batches of {batchPairs} pairs:");
    }

    [Fact]
    public async Task Debug_dpo_command_writes_what_torch_computes()
    {
        var outFile = Path.Combine(Path.GetTempPath(), $"ftl-debug-dpo-{Environment.ProcessId}-{Guid.NewGuid():N}.safetensors");
        try
        {
            var ftlTrain = Path.Combine(AppContext.BaseDirectory, "ftl-train.dll");
            var result = await ExternalProcess.RunAsync("dotnet", [ftlTrain, "debug-dpo", "--model", c.ModelDir, "--pairs", c.PairsPath,
                "--lora-r", "4", "--lora-alpha", "8", "--lora-init", c.LoraInitPath, "--beta", "0.1", "--batch-pairs", "3", "--threads", "2", "--out", outFile]);
            result.EnsureSuccess("ftl-train debug-dpo");
            using (var printed = System.Text.Json.JsonDocument.Parse(result.StdOut))
            {
                var e = printed.RootElement.GetProperty("evaluation");
                AssertMetricsMatch(c.ExpectedPath, new DpoMetrics(e.GetProperty("loss").GetDouble(), e.GetProperty("reward_margin").GetDouble(),
                    e.GetProperty("accuracy").GetDouble(), e.GetProperty("chosen_reward").GetDouble(), e.GetProperty("rejected_reward").GetDouble(), 5),
                    "debug-dpo evaluation:");
            }
            using var written = SafeTensorFile.Open(outFile);
            var metrics = new DpoMetrics(written.ReadFloat32("loss")[0], written.ReadFloat32("reward_margin")[0], written.ReadFloat32("accuracy")[0],
                written.ReadFloat32("chosen_reward")[0], written.ReadFloat32("rejected_reward")[0], 5);
            var grads = written.Tensors.Keys.Where(k => k.StartsWith("base_model.", StringComparison.Ordinal))
                .ToDictionary(k => k, k => (written.ReadFloat32(k), written.Get(k).Shape));
            AssertMatches(c.ExpectedPath, metrics, grads);
        }
        finally
        {
            File.Delete(outFile);
        }
    }

    [Fact]
    public void With_the_adapter_at_its_initialisation_the_policy_is_the_reference()
    {
        using var backend = new CpuBackend(2);
        var pairs = DpoPair.LoadJson(c.PairsPath);
        var r = DebugDpo.Run(backend, c.ModelDir, pairs, Lora, 0.1f, loraInit: null, batchPairs: 2);
        // B = 0: rewards are exactly zero, the loss is log 2, and the gradient reaches A not at all but B does
        foreach (var m in new[] { r.Metrics, r.Evaluation })
        {
            Assert.Equal(0, m.ChosenReward);
            Assert.Equal(0, m.RejectedReward);
            Assert.Equal(Math.Log(2), m.Loss, 9);
            Assert.Equal(0, m.Accuracy);
        }
        Assert.Contains(r.Gradients, g => g.Key.Contains("lora_B") && g.Value.Values.Any(v => v != 0));
    }
}
