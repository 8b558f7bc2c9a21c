using FineTuneLab.TestSupport;
using FineTuneLab.Trainer.Backends.Cpu;
using FineTuneLab.Trainer.Formats;
using FineTuneLab.Trainer.Models;
using FineTuneLab.Trainer.Tensors;
using FineTuneLab.Trainer.Training;

namespace FineTuneLab.Trainer.Tests.Models;

public sealed class FullFineTuneAndEngineTests(TorchReferenceCases cases) : IClassFixture<TorchReferenceCases>
{
    [Theory]
    [InlineData("llama_gqa")]
    [InlineData("qwen2_bias_sharded")]
    [InlineData("gpt2")]
    [InlineData("qwen3")]
    [InlineData("gemma3")]
    [InlineData("phi3")]
    public void Full_parameter_gradients_of_every_weight_match_torch(string name)
    {
        var c = cases.Get(name);
        using var backend = new CpuBackend(2);
        var options = new EngineOptions { FullFineTune = true, MaxBatch = c.Tokens.Batch, MaxSeq = c.Tokens.Seq };
        using var model = TransformerModel.FromFolder(c.ModelDir, backend, options);
        Assert.Empty(model.Adapters);
        model.ZeroGradients();
        int valid = model.SetBatch(c.Tokens.InputIds, c.Tokens.Labels, c.Tokens.Batch, c.Tokens.Seq);
        var ce = model.Run(backward: true, 1f / valid);

        using var expected = SafeTensorFile.Open(c.ExpectedPath);
        Assert.Equal(expected.ReadFloat32("full_loss")[0], ce.Mean, 1e-4 * ce.Mean);
        var expectedKeys = expected.Tensors.Keys.Where(k => k.StartsWith("full_grad.", StringComparison.Ordinal)).ToHashSet();
        Assert.Equal(expectedKeys.Count, model.WeightSources.Count);
        foreach (var src in model.WeightSources)
        {
            var key = src.Keys.Select(k => "full_grad." + k).Single(expectedKeys.Contains);
            var reference = expected.ReadFloat32(key);
            var grad = src.Param.Grad;
            Assert.True(src.Param.Trainable);
            if (src.StoredTransposed)
                reference = Transpose(reference, grad.Dim(1), grad.Dim(0));
            Close.Assert(reference, grad.AsFloat(), 1e-3, $"{name} {key}");
        }
    }

    [Fact]
    public void Longrope_refuses_an_instance_longer_than_the_original_context()
    {
        // transformers switches to the long factors per batch beyond original_max_position_embeddings (16 here)
        var c = cases.Get("phi3_longrope");
        using var backend = new CpuBackend(1);
        var e = Assert.Throws<ArgumentException>(() => TransformerModel.FromFolder(c.ModelDir, backend,
            new EngineOptions { Lora = c.Lora, MaxBatch = 1, MaxSeq = 17 }));
        Assert.Contains("original_max_position_embeddings 16", e.Message);
        using var fits = TransformerModel.FromFolder(c.ModelDir, backend, new EngineOptions { Lora = c.Lora, MaxBatch = 1, MaxSeq = 16 });
    }

    private static float[] Transpose(float[] m, int rows, int cols)
    {
        var t = new float[m.Length];
        for (int r = 0; r < rows; r++)
            for (int k = 0; k < cols; k++)
                t[k * rows + r] = m[r * cols + k];
        return t;
    }

    [Fact]
    public void Same_seed_and_threads_give_bit_identical_steps()
    {
        var c = cases.Get("llama_gqa");
        float[] Train()
        {
            using var backend = new CpuBackend(2);
            var lora = c.Lora with { Dropout = 0.1f };
            using var model = TransformerModel.FromFolder(c.ModelDir, backend, new EngineOptions { Lora = lora, MaxBatch = c.Tokens.Batch, MaxSeq = c.Tokens.Seq });
            model.InitLora(seed: 7);
            using var step = new TrainingStep(model, c.Optimizer, dropoutSeed: 11);
            var mb = new MicroBatch(c.Tokens.InputIds, c.Tokens.Labels, c.Tokens.Batch, c.Tokens.Seq);
            for (int i = 0; i < 3; i++) step.Step([mb]);
            return model.ParametersFlat.AsFloat().ToArray();
        }
        var first = Train();
        var second = Train();
        Assert.Equal(first.Select(BitConverter.SingleToInt32Bits), second.Select(BitConverter.SingleToInt32Bits));
        Assert.Contains(first, v => v != 0);
    }

    [Fact]
    public void A_training_step_allocates_nothing_on_the_managed_heap()
    {
        var c = cases.Get("gpt2");
        using var backend = new CpuBackend(2);
        using var model = TransformerModel.FromFolder(c.ModelDir, backend, new EngineOptions { Lora = c.Lora with { Dropout = 0.05f }, MaxBatch = c.Tokens.Batch, MaxSeq = c.Tokens.Seq });
        model.InitLora(seed: 1);
        using var step = new TrainingStep(model, c.Optimizer);
        MicroBatch[] mb = [new MicroBatch(c.Tokens.InputIds, c.Tokens.Labels, c.Tokens.Batch, c.Tokens.Seq)];
        step.Step(mb);
        step.Step(mb);
        long before = GC.GetAllocatedBytesForCurrentThread();
        step.Step(mb);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.True(allocated == 0, $"a step allocated {allocated} bytes");
    }

    [Fact]
    public void Peft_init_has_kaiming_uniform_a_and_zero_b()
    {
        var c = cases.Get("llama_gqa");
        using var backend = new CpuBackend(2);
        using var model = TransformerModel.FromFolder(c.ModelDir, backend, new EngineOptions { Lora = c.Lora, MaxBatch = 1, MaxSeq = 4 });
        model.InitLora(seed: 3);
        foreach (var ad in model.Adapters)
        {
            var a = ad.A.Value.AsFloat().ToArray();
            float bound = 1f / MathF.Sqrt(ad.A.Value.Dim(1));
            Assert.All(a, v => Assert.InRange(v, -bound, bound));
            Assert.True(a.Max() > 0.8f * bound && a.Min() < -0.8f * bound, $"{ad.ModulePath}: A does not span its Kaiming bound");
            Assert.All(ad.BT.Value.AsFloat().ToArray(), v => Assert.Equal(0f, v));
        }
    }

    [Fact]
    public void Bf16_weights_hold_half_the_frozen_memory_and_give_the_same_loss_for_bf16_stored_weights()
    {
        var c = cases.Get("llama31_tied_bf16");
        using var backend = new CpuBackend(2);
        double Loss(DType dtype, out long frozen)
        {
            var r = DebugStep.Run(backend, c.ModelDir, c.Tokens, c.Lora, c.LoraInitPath, dtype);
            using var m = TransformerModel.FromFolder(c.ModelDir, backend, new EngineOptions { Lora = c.Lora, WeightDType = dtype, MaxBatch = 1, MaxSeq = 1 });
            frozen = m.FrozenBytes;
            return r.Loss;
        }
        var lossF32 = Loss(DType.F32, out var bytesF32);
        var lossBf16 = Loss(DType.BF16, out var bytesBf16);
        Assert.Equal(lossF32, lossBf16, 1e-5);
        Assert.InRange(bytesBf16, bytesF32 * 0.45, bytesF32 * 0.6);
    }

    [Fact]
    public void Missing_weight_is_named()
    {
        var c = cases.Get("llama_gqa");
        var dir = Directory.CreateTempSubdirectory("ftl-missing-").FullName;
        try
        {
            File.Copy(Path.Combine(c.ModelDir, "config.json"), Path.Combine(dir, "config.json"));
            using (var src = SafeTensorFile.Open(Path.Combine(c.ModelDir, "model.safetensors")))
            {
                var items = src.Tensors.Values.Where(t => t.Name != "model.layers.1.mlp.up_proj.weight")
                    .Select(t => new SafeTensorWriteItem(t.Name, t.DType, t.Shape, src.Bytes(t.Name).ToArray()));
                SafeTensorsWriter.Write(Path.Combine(dir, "model.safetensors"), items);
            }
            using var backend = new CpuBackend(2);
            var e = Assert.Throws<SafeTensorsFormatException>(() =>
                TransformerModel.FromFolder(dir, backend, new EngineOptions { Lora = c.Lora, MaxBatch = 1, MaxSeq = 4 }).Dispose());
            Assert.Contains("model.layers.1.mlp.up_proj.weight", e.Message);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void Lora_targets_that_match_nothing_are_an_error()
    {
        var c = cases.Get("gpt2");
        using var backend = new CpuBackend(2);
        var e = Assert.Throws<ArgumentException>(() => TransformerModel.FromFolder(c.ModelDir, backend,
            new EngineOptions { Lora = c.Lora with { TargetModules = ["q_proj"] }, MaxBatch = 1, MaxSeq = 4 }).Dispose());
        Assert.Contains("q_proj", e.Message);
    }

    [Fact]
    public async Task Debug_step_cli_writes_loss_logits_and_peft_gradients_that_match_torch()
    {
        var c = cases.Get("gpt2");
        var output = Path.Combine(Directory.CreateTempSubdirectory("ftl-ds-").FullName, "step.safetensors");
        var cli = Path.Combine(AppContext.BaseDirectory, "ftl-train.dll");
        var run = await ExternalProcess.RunAsync("dotnet", [cli, "debug-step", "--model", c.ModelDir, "--tokens", c.TokensPath,
            "--lora-r", c.Lora.Rank.ToString(), "--lora-alpha", c.Lora.Alpha.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "--targets", string.Join(',', c.Lora.TargetModules), "--lora-init", c.LoraInitPath, "--threads", "2", "--out", output]);
        run.EnsureSuccess("ftl-train debug-step");
        using var actual = SafeTensorFile.Open(output);
        using var expected = SafeTensorFile.Open(c.ExpectedPath);
        Close.Assert(expected.ReadFloat32("loss"), actual.ReadFloat32("loss"), 1e-4, "loss");
        Close.Assert(expected.ReadFloat32("logits"), actual.ReadFloat32("logits"), 1e-4, "logits");
        Assert.Equal(expected.Get("logits").Shape, actual.Get("logits").Shape);
        foreach (var key in expected.Tensors.Keys.Where(k => k.StartsWith("grad.", StringComparison.Ordinal)))
            Close.Assert(expected.ReadFloat32(key), actual.ReadFloat32(key["grad.".Length..]), 1e-3, key);
        Directory.Delete(Path.GetDirectoryName(output)!, recursive: true);
    }
}
