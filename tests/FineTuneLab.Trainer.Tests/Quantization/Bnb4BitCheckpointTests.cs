using FineTuneLab.TestSupport;
using FineTuneLab.Trainer.Backends.Cpu;
using FineTuneLab.Trainer.Formats;
using FineTuneLab.Trainer.Models;
using FineTuneLab.Trainer.Quantization;
using FineTuneLab.Trainer.Tensors;
using FineTuneLab.Trainer.Tests.Models;

namespace FineTuneLab.Trainer.Tests.Quantization;

/// <summary>ftl-train quantize writes bitsandbytes' 4-bit layout; loading it gives the same model as quantizing on load.</summary>
public sealed class Bnb4BitCheckpointTests(TorchReferenceCases cases) : IClassFixture<TorchReferenceCases>
{
    private static float[] Logits(string modelDir, TorchReferenceCases.Case c)
    {
        using var backend = new CpuBackend(2);
        var options = new EngineOptions { Lora = c.Lora, QuantizeBase = true, MaxBatch = c.Tokens.Batch, MaxSeq = c.Tokens.Seq };
        using var model = TransformerModel.FromFolder(modelDir, backend, options);
        using (var init = SafeTensorStore.Open(c.LoraInitPath)) model.LoadLora(init);
        model.SetBatch(c.Tokens.InputIds, c.Tokens.Labels, c.Tokens.Batch, c.Tokens.Seq);
        model.Run(backward: false, 0f);
        using var buffer = new NativeBuffer((long)c.Tokens.Batch * c.Tokens.Seq * model.Config.VocabSize * sizeof(float));
        var logits = buffer.AsTensor(DType.F32, new TensorShape(c.Tokens.Batch * c.Tokens.Seq, model.Config.VocabSize));
        model.ComputeLogits(logits);
        return logits.AsFloat().ToArray();
    }

    [Fact]
    public async Task Quantize_command_output_loads_to_the_same_model_as_quantize_on_load()
    {
        var c = cases.Get("llama_gqa");
        var outDir = Path.Combine(RepoPaths.Cache, $"quantized-llama_gqa-{Environment.ProcessId}-{Guid.NewGuid():N}");
        try
        {
            var ftlTrain = Path.Combine(AppContext.BaseDirectory, "ftl-train.dll");
            var result = await ExternalProcess.RunAsync("dotnet", [ftlTrain, "quantize", "--model", c.ModelDir, "--out", outDir]);
            result.EnsureSuccess("ftl-train quantize");
            Assert.Contains("\"quantized_tensors\": 14", result.StdOut);

            using (var store = SafeTensorStore.Open(outDir))
            {
                const string w = "model.layers.1.mlp.down_proj.weight";
                Assert.True(Bnb4BitFormat.IsQuantized(store, w));
                Assert.Equal(SafeTensorDType.U8, store.Get(w).DType);
                foreach (var suffix in new[] { ".absmax", ".quant_map", ".nested_absmax", ".nested_quant_map", Bnb4BitFormat.QuantStateSuffix })
                    Assert.True(store.Contains(w + suffix), w + suffix);
                var state = System.Text.Encoding.UTF8.GetString(store.FileOf(w + Bnb4BitFormat.QuantStateSuffix).Bytes(w + Bnb4BitFormat.QuantStateSuffix));
                foreach (var key in new[] { "\"quant_type\":\"nf4\"", "\"blocksize\":64", "\"dtype\":\"float32\"", "\"shape\":[64,96]", "\"nested_blocksize\":256", "\"nested_offset\":" })
                    Assert.Contains(key, state);
                Assert.Equal(SafeTensorDType.F32, store.Get("model.embed_tokens.weight").DType);
                // the stored codes are what Nf4.Quantize gives for the float weight
                using var original = SafeTensorStore.Open(c.ModelDir);
                var q = Nf4.Quantize(original.ReadFloat32(w), original.Get(w).Shape);
                Assert.Equal(q.Packed, store.FileOf(w).Bytes(w).ToArray());
                Assert.Equal(q.Offset, Bnb4BitFormat.Read(store, w).Offset);
            }
            Assert.Contains("\"bnb_4bit_quant_type\": \"nf4\"", await File.ReadAllTextAsync(Path.Combine(outDir, "config.json")));

            Assert.Equal(Logits(c.ModelDir, c), Logits(outDir, c));

            var again = await ExternalProcess.RunAsync("dotnet", [ftlTrain, "quantize", "--model", c.ModelDir, "--out", outDir]);
            Assert.Equal(2, again.ExitCode);
            Assert.Contains("not empty", again.StdErr);
        }
        finally
        {
            if (Directory.Exists(outDir)) Directory.Delete(outDir, recursive: true);
        }
    }

    [Fact]
    public void A_broken_quant_state_names_the_tensor()
    {
        var c = cases.Get("llama_gqa");
        var dir = Path.Combine(RepoPaths.Cache, $"bnb-broken-{Environment.ProcessId}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        try
        {
            File.Copy(Path.Combine(c.ModelDir, "config.json"), Path.Combine(dir, "config.json"));
            using (var original = SafeTensorStore.Open(c.ModelDir))
            {
                var items = new List<SafeTensorWriteItem>();
                foreach (var name in original.Names)
                {
                    if (name == "model.layers.0.self_attn.q_proj.weight")
                    {
                        var q = Nf4.Quantize(original.ReadFloat32(name), original.Get(name).Shape);
                        items.AddRange(Bnb4BitFormat.Items(name, q, "float32").Where(i => !i.Name.EndsWith(".nested_absmax", StringComparison.Ordinal)));
                    }
                    else items.Add(SafeTensorWriteItem.Float32(name, original.ReadFloat32(name), original.Get(name).Shape));
                }
                SafeTensorsWriter.Write(Path.Combine(dir, "model.safetensors"), items);
            }
            using var backend = new CpuBackend(1);
            var e = Assert.Throws<SafeTensorsFormatException>(() => TransformerModel.FromFolder(dir, backend,
                new EngineOptions { Lora = c.Lora, QuantizeBase = true, MaxBatch = 1, MaxSeq = 8 }));
            Assert.Contains("model.layers.0.self_attn.q_proj.weight.nested_absmax", e.Message);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
