using FineTuneLab.Trainer.Backends.Cpu;
using FineTuneLab.Trainer.Export;
using FineTuneLab.Trainer.Formats;
using FineTuneLab.Trainer.Inference;
using FineTuneLab.Trainer.Tests.Inference;
using FineTuneLab.Trainer.Tests.Models;

namespace FineTuneLab.Trainer.Tests.Export;

public sealed class ExportTests
{
    [Theory]
    [InlineData("llama", SafeTensorDType.F32, false)]
    [InlineData("llama", SafeTensorDType.F32, true)]
    [InlineData("qwen2", SafeTensorDType.F32, false)]
    [InlineData("gpt2", SafeTensorDType.F32, false)]
    [InlineData("gpt2", SafeTensorDType.F32, true)]
    [InlineData("qwen3", SafeTensorDType.F32, false)]
    [InlineData("gemma3", SafeTensorDType.F32, true)]
    [InlineData("phi3", SafeTensorDType.F32, false)]
    public void Merged_model_logits_equal_base_plus_adapter_logits(string family, SafeTensorDType dtype, bool rsLora)
    {
        using var tmp = new TempDir();
        var modelDir = RandomModels.CreateModel(tmp.Path, family, seed: 11, dtype);
        var adapterDir = RandomModels.CreateAdapter(tmp.Path, modelDir, 12, ["all-linear"], rank: 3, alpha: 5, rsLora: rsLora);
        File.WriteAllText(Path.Combine(modelDir, "tokenizer_config.json"), "{}");
        var outDir = Path.Combine(tmp.Path, "merged");
        MergedModelExporter.Export(modelDir, adapterDir, outDir);
        Assert.True(File.Exists(Path.Combine(outDir, "config.json")));
        Assert.True(File.Exists(Path.Combine(outDir, "tokenizer_config.json")));
        Assert.Empty(Directory.GetDirectories(tmp.Path, ".merged*"));

        using var backend = new CpuBackend(2);
        var ids = RandomModels.RandomIds(10, 50, 4);
        using var adapted = InferenceModel.Load(modelDir, adapterDir, backend, 16);
        using var merged = InferenceModel.Load(outDir, null, backend, 16);
        using var plain = InferenceModel.Load(modelDir, null, backend, 16);
        var expected = RandomModels.FullForwardLogits(adapted, ids);
        Close.Assert(expected, RandomModels.FullForwardLogits(merged, ids), 1e-5, $"{family} merged");
        // the adapter really changes the model, so the comparison above is not vacuous
        var baseLogits = RandomModels.FullForwardLogits(plain, ids);
        Assert.True(expected.Zip(baseLogits).Max(p => Math.Abs(p.First - p.Second)) > 1e-2);

        using var store = SafeTensorStore.Open(outDir);
        using var original = SafeTensorStore.Open(modelDir);
        Assert.Equal(original.Names.Order(), store.Names.Order());
        foreach (var name in original.Names)
        {
            Assert.Equal(original.Get(name).DType, store.Get(name).DType);
            Assert.Equal(original.Get(name).Shape, store.Get(name).Shape);
        }
    }

    [Fact]
    public void Merging_keeps_a_bf16_base_in_bf16()
    {
        using var tmp = new TempDir();
        var modelDir = RandomModels.CreateModel(tmp.Path, "llama", seed: 13, SafeTensorDType.BF16);
        var adapterDir = RandomModels.CreateAdapter(tmp.Path, modelDir, 14, ["q_proj", "down_proj"]);
        var outDir = Path.Combine(tmp.Path, "merged");
        MergedModelExporter.Export(modelDir, adapterDir, outDir);
        using var store = SafeTensorStore.Open(outDir);
        Assert.Equal(SafeTensorDType.BF16, store.Get("model.layers.0.self_attn.q_proj.weight").DType);
        using var original = SafeTensorStore.Open(modelDir);
        Assert.NotEqual(original.ReadFloat32("model.layers.1.mlp.down_proj.weight"), store.ReadFloat32("model.layers.1.mlp.down_proj.weight"));
        Assert.Equal(original.ReadFloat32("model.layers.1.mlp.up_proj.weight"), store.ReadFloat32("model.layers.1.mlp.up_proj.weight"));
    }

    public static TheoryData<string, string[]> PeftNames => new()
    {
        { "llama", ["model.layers.{0}.self_attn.q_proj", "model.layers.{0}.self_attn.k_proj", "model.layers.{0}.self_attn.v_proj", "model.layers.{0}.self_attn.o_proj", "model.layers.{0}.mlp.gate_proj", "model.layers.{0}.mlp.up_proj", "model.layers.{0}.mlp.down_proj"] },
        { "qwen2", ["model.layers.{0}.self_attn.q_proj", "model.layers.{0}.self_attn.k_proj", "model.layers.{0}.self_attn.v_proj", "model.layers.{0}.self_attn.o_proj", "model.layers.{0}.mlp.gate_proj", "model.layers.{0}.mlp.up_proj", "model.layers.{0}.mlp.down_proj"] },
        { "mistral", ["model.layers.{0}.self_attn.q_proj", "model.layers.{0}.self_attn.k_proj", "model.layers.{0}.self_attn.v_proj", "model.layers.{0}.self_attn.o_proj", "model.layers.{0}.mlp.gate_proj", "model.layers.{0}.mlp.up_proj", "model.layers.{0}.mlp.down_proj"] },
        { "qwen3", ["model.layers.{0}.self_attn.q_proj", "model.layers.{0}.self_attn.k_proj", "model.layers.{0}.self_attn.v_proj", "model.layers.{0}.self_attn.o_proj", "model.layers.{0}.mlp.gate_proj", "model.layers.{0}.mlp.up_proj", "model.layers.{0}.mlp.down_proj"] },
        { "gemma3", ["model.layers.{0}.self_attn.q_proj", "model.layers.{0}.self_attn.k_proj", "model.layers.{0}.self_attn.v_proj", "model.layers.{0}.self_attn.o_proj", "model.layers.{0}.mlp.gate_proj", "model.layers.{0}.mlp.up_proj", "model.layers.{0}.mlp.down_proj"] },
        // Phi-3's fused projections: one adapter each, B covering all the fused rows (what PEFT writes for Phi3ForCausalLM)
        { "phi3", ["model.layers.{0}.self_attn.qkv_proj", "model.layers.{0}.self_attn.o_proj", "model.layers.{0}.mlp.gate_up_proj", "model.layers.{0}.mlp.down_proj"] },
        { "gpt2", ["transformer.h.{0}.attn.c_attn", "transformer.h.{0}.attn.c_proj", "transformer.h.{0}.mlp.c_fc", "transformer.h.{0}.mlp.c_proj"] },
    };

    [Theory]
    [MemberData(nameof(PeftNames))]
    public void Adapter_keys_and_shapes_are_exactly_peft_s(string family, string[] modules)
    {
        using var tmp = new TempDir();
        var modelDir = RandomModels.CreateModel(tmp.Path, family, seed: 15);
        var adapterDir = RandomModels.CreateAdapter(tmp.Path, modelDir, 16, ["all-linear"], rank: 4);
        var config = HfConfig.Load(modelDir);
        int c = config.HiddenSize, inter = config.IntermediateSize, q = config.QDim, kv = config.KvDim;
        (int In, int Out) Shape(string m) => m.Split('.')[^1] switch
        {
            "q_proj" => (c, q), "k_proj" or "v_proj" => (c, kv), "o_proj" => (q, c), "gate_proj" or "up_proj" => (c, inter),
            "down_proj" => (inter, c), "qkv_proj" => (c, q + 2 * kv), "gate_up_proj" => (c, 2 * inter), "c_attn" => (c, 3 * c), "c_fc" => (c, 4 * c),
            "c_proj" => m.Contains(".attn.") ? (c, c) : (4 * c, c), _ => throw new ArgumentException(m),
        };
        var expected = new Dictionary<string, long[]>();
        for (int layer = 0; layer < config.NumLayers; layer++)
            foreach (var m in modules.Select(m => string.Format(m, layer)))
            {
                var (i, o) = Shape(m);
                expected[$"base_model.model.{m}.lora_A.weight"] = [4, i];
                expected[$"base_model.model.{m}.lora_B.weight"] = [o, 4];
            }
        using var file = SafeTensorFile.Open(Path.Combine(adapterDir, PeftAdapterConfig.WeightsFileName));
        Assert.Equal(expected.Keys.Order(), file.Tensors.Keys.Order());
        foreach (var (key, shape) in expected)
        {
            Assert.Equal(shape, file.Get(key).Shape);
            Assert.Equal(SafeTensorDType.F32, file.Get(key).DType);
        }
        Assert.Equal("pt", file.Metadata["format"]);
        var read = PeftAdapterConfig.Load(adapterDir);
        Assert.Equal(4, read.Rank);
        Assert.Equal(family == "gpt2", read.FanInFanOut);
        var json = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(adapterDir, PeftAdapterConfig.FileName))).RootElement;
        Assert.Equal("LORA", json.GetProperty("peft_type").GetString());
        Assert.Equal("CAUSAL_LM", json.GetProperty("task_type").GetString());
        Assert.Equal("all-linear", json.GetProperty("target_modules").GetString());
    }

    [Fact]
    public void An_exported_adapter_loads_to_the_same_model()
    {
        using var tmp = new TempDir();
        var modelDir = RandomModels.CreateModel(tmp.Path, "gpt2", seed: 17);
        var adapterDir = RandomModels.CreateAdapter(tmp.Path, modelDir, 18, ["c_attn", "c_fc"]);
        var outDir = Path.Combine(tmp.Path, "exported");
        AdapterExporter.Export(modelDir, adapterDir, outDir);
        using var backend = new CpuBackend(1);
        var ids = RandomModels.RandomIds(6, 50, 1);
        using var a = InferenceModel.Load(modelDir, adapterDir, backend, 8);
        using var b = InferenceModel.Load(modelDir, outDir, backend, 8);
        Assert.Equal(RandomModels.FullForwardLogits(a, ids), RandomModels.FullForwardLogits(b, ids));
        Assert.Equal(4, b.Adapters.Count);
    }

    [Fact]
    public void A_bad_adapter_config_names_the_file_and_field()
    {
        using var tmp = new TempDir();
        File.WriteAllText(Path.Combine(tmp.Path, "adapter_config.json"), """{"peft_type": "LORA", "lora_alpha": 16}""");
        var e = Assert.Throws<InvalidDataException>(() => PeftAdapterConfig.Load(tmp.Path));
        Assert.Contains("adapter_config.json", e.Message);
        Assert.Contains("'r'", e.Message);
    }
}
