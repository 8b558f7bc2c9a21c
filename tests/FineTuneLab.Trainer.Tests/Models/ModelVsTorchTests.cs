using FineTuneLab.Trainer.Backends.Cpu;
using FineTuneLab.Trainer.Formats;
using FineTuneLab.Trainer.Models;
using FineTuneLab.Trainer.Training;

namespace FineTuneLab.Trainer.Tests.Models;

/// <summary>Forward, backward and AdamW of every model family against PyTorch (scripts/torch_ref_model.py).</summary>
public sealed class ModelVsTorchTests(TorchReferenceCases cases) : IClassFixture<TorchReferenceCases>
{
    public static TheoryData<string> Cases => new() { "llama_gqa", "llama31_tied_bf16", "llama31_scaled", "qwen2_bias_sharded", "mistral", "gpt2",
        "qwen3", "llama32", "gemma3", "phi3", "phi3_longrope" };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Logits_loss_and_lora_gradients_match_torch(string name)
    {
        var c = cases.Get(name);
        using var backend = new CpuBackend(2);
        var result = DebugStep.Run(backend, c.ModelDir, c.Tokens, c.Lora, c.LoraInitPath);
        using var expected = SafeTensorFile.Open(c.ExpectedPath);

        Assert.Equal(expected.ReadFloat32("loss")[0], result.Loss, 1e-4 * Math.Abs(expected.ReadFloat32("loss")[0]));
        Close.Assert(expected.ReadFloat32("logits"), result.Logits, 1e-4, $"{name} logits");
        var gradKeys = expected.Tensors.Keys.Where(k => k.StartsWith("grad.", StringComparison.Ordinal)).ToList();
        Assert.NotEmpty(gradKeys);
        Assert.Equal(gradKeys.Select(k => k["grad.".Length..]).Order(), result.Gradients.Keys.Order());
        foreach (var key in gradKeys)
        {
            var (values, shape) = result.Gradients[key["grad.".Length..]];
            Assert.Equal(expected.Get(key).Shape, shape);
            Close.Assert(expected.ReadFloat32(key), values, 1e-3, $"{name} {key}");
        }
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Adamw_steps_with_clipping_and_accumulation_match_torch(string name)
    {
        var c = cases.Get(name);
        using var backend = new CpuBackend(2);
        int microBatch = c.Tokens.Batch / c.Accumulation, seq = c.Tokens.Seq;
        // a loss chunk that does not divide the token count exercises the chunked LM head + cross-entropy
        var options = new EngineOptions { Lora = c.Lora, MaxBatch = microBatch, MaxSeq = seq, LossChunk = 5 };
        using var model = TransformerModel.FromFolder(c.ModelDir, backend, options);
        using (var init = SafeTensorStore.Open(c.LoraInitPath)) model.LoadLora(init);
        using var step = new TrainingStep(model, c.Optimizer);
        var micro = Enumerable.Range(0, c.Accumulation).Select(m => new MicroBatch(
            c.Tokens.InputIds.AsMemory(m * microBatch * seq, microBatch * seq), c.Tokens.Labels.AsMemory(m * microBatch * seq, microBatch * seq),
            microBatch, seq)).ToArray();

        using var expected = SafeTensorFile.Open(c.ExpectedPath);
        var losses = expected.ReadFloat32("adamw_losses");
        var norms = expected.ReadFloat32("adamw_grad_norms");
        for (int s = 0; s < c.Steps; s++)
        {
            var r = step.Step(micro);
            Assert.Equal(losses[s], r.Loss, 1e-4 * losses[s]);
            Assert.Equal(norms[s], r.GradNorm, 1e-3 * norms[s]);
        }
        Assert.True(norms.Max() > c.Optimizer.MaxGradNorm, "the reference never clipped, so clipping would go untested");
        foreach (var ad in model.Adapters)
        {
            var (a, b) = model.ReadLora(ad);
            Close.Assert(expected.ReadFloat32("after_adamw." + ad.PeftKeyA), a, 1e-3, $"{name} {ad.PeftKeyA} after AdamW");
            Close.Assert(expected.ReadFloat32("after_adamw." + ad.PeftKeyB), b, 1e-3, $"{name} {ad.PeftKeyB} after AdamW");
        }
    }
}
