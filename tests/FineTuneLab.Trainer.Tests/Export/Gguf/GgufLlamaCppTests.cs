using System.Text.Json.Nodes;
using FineTuneLab.Trainer.Backends.Cpu;
using FineTuneLab.Trainer.Export;
using FineTuneLab.Trainer.Export.Gguf;
using FineTuneLab.Trainer.Formats;
using FineTuneLab.Trainer.Inference;
using FineTuneLab.Trainer.Models;
using FineTuneLab.Trainer.Tensors;
using FineTuneLab.Trainer.Tests.Inference;
using FineTuneLab.TestSupport;
using Xunit.Abstractions;

namespace FineTuneLab.Trainer.Tests.Export.Gguf;

/// <summary>
/// Our GGUF files loaded by llama.cpp itself (LLamaSharp's CPU build) must give our engine's next-token logits and
/// greedy tokens on the same merged weights. llama.cpp runs with an f32 KV cache and without flash attention (both
/// round to f16 otherwise), so f32 files leave only summation order: KL ≤ 1e-9, max |Δ| ≤ 1e-4 (measured 3e-6).
/// f16: our engine runs the same f16-rounded weights, but ggml's CPU matmul also rounds the activations to f16 (the
/// vec_dot type of f16 weights), about 2^-11 relative per product, accumulated over the layers: KL ≤ 1e-4 and
/// max |Δ| ≤ 2% of the largest logit (measured ≤ 4e-6 and 0.3%). bf16 rounds activations to bf16 (2^-8): KL ≤ 5e-3
/// (measured 4e-4). q8_0 rounds weights to 8 bits per 32-block against our f32 engine (and activations to q8_0):
/// KL ≤ 2e-2 and top-1 ≥ 80% on a random model whose distributions are flat (measured 1e-2, 87.5%). q4_k_m (5-bit
/// q5_0 fallbacks on these 128-wide rows): mean KL ≤ 0.1, top-1 ≥ 50% (measured 0.033, 62.5%).
/// </summary>
public sealed class GgufLlamaCppTests(ITestOutputHelper output)
{
    private static string TinyModel => Path.Combine(RepoPaths.Root, "samples", "models", "tiny");
    private const int Vocab = 1024; // the sample tokenizer's 982 tokens, padded

    /// <summary>A random model of the family with the sample model's byte-level BPE tokenizer and chat template.</summary>
    private static string Model(string root, string family, ulong seed, Action<JsonObject>? configure = null)
    {
        var dir = RandomModels.CreateModel(root, family, seed, vocab: Vocab, configure: configure);
        foreach (var f in new[] { "tokenizer.json", "tokenizer_config.json" }) File.Copy(Path.Combine(TinyModel, f), Path.Combine(dir, f), overwrite: true);
        return dir;
    }

    /// <summary>
    /// A random Phi-3 with a Phi-3-shaped vocabulary: the Llama 2 SentencePiece tokenizer Phi-3 ships, plus its chat
    /// tokens (<|end|>, <|user|>, …) from id 32000, which llama.cpp's phi3 looks up by name.
    /// </summary>
    private static string Phi3Model(string root)
    {
        var dir = RandomModels.CreateModel(root, "phi3", 15, vocab: 32064, configure: c => c.Remove("sliding_window"));
        var json = JsonNode.Parse(File.ReadAllText(Path.Combine(Tokenizers.TokenizerFixtures.Dir, "llama2", "tokenizer.json")))!.AsObject();
        var added = json["added_tokens"]!.AsArray();
        string[] names = ["<|endoftext|>", "<|assistant|>", "<|placeholder1|>", "<|placeholder2|>", "<|placeholder3|>", "<|placeholder4|>",
            "<|system|>", "<|end|>", "<|placeholder5|>", "<|placeholder6|>", "<|user|>"];
        for (int i = 0; i < names.Length; i++)
            added.Add(new JsonObject
            {
                ["id"] = 32000 + i, ["content"] = names[i], ["single_word"] = false, ["lstrip"] = false, ["rstrip"] = i is 7 or 10,
                ["normalized"] = false, ["special"] = true,
            });
        File.WriteAllText(Path.Combine(dir, "tokenizer.json"), json.ToJsonString());
        File.Copy(Path.Combine(Tokenizers.TokenizerFixtures.Dir, "llama2", "tokenizer_config.json"), Path.Combine(dir, "tokenizer_config.json"));
        return dir;
    }

    private static readonly int[][] Prompts = [RandomModels.RandomIds(19, 982, 1), RandomModels.RandomIds(7, 982, 2), RandomModels.RandomIds(30, 982, 3)];

    private LogitAgreement Compare(string ggufFile, string? lora, TransformerModel ours, string label)
    {
        using var llama = new LlamaCpp(ggufFile, lora);
        Assert.Equal(ours.Config.VocabSize, llama.VocabSize);
        var oursAll = new List<float>();
        var theirsAll = new List<float>();
        foreach (var ids in Prompts)
        {
            oursAll.AddRange(RandomModels.FullForwardLogits(ours, ids));
            theirsAll.AddRange(llama.Logits(ids));
        }
        var a = LogitAgreement.Of(oursAll.ToArray(), theirsAll.ToArray(), ours.Config.VocabSize);
        output.WriteLine($"{label}: {a}");
        return a;
    }

    /// <summary>Greedy tokens from our engine (full forward each step) and from llama.cpp (its KV cache) must be the same.</summary>
    private void AssertSameGreedy(string ggufFile, TransformerModel ours, int newTokens = 12)
    {
        using var llama = new LlamaCpp(ggufFile);
        var prompt = Prompts[0][..8];
        var ids = prompt.ToList();
        for (int n = 0; n < newTokens; n++)
        {
            var logits = RandomModels.FullForwardLogits(ours, ids.ToArray());
            ids.Add(LogitAgreement.ArgMax(logits.AsSpan(logits.Length - ours.Config.VocabSize)));
        }
        Assert.Equal(ids.Skip(prompt.Length).ToArray(), llama.Greedy(prompt, newTokens));
    }

    public static TheoryData<string> Families => new() { "llama", "mistral", "qwen2", "qwen3", "gemma3", "phi3", "gpt2", "llama3.2" };

    [Theory]
    [MemberData(nameof(Families))]
    public void F16_gguf_of_a_merged_adapter_matches_our_engine(string family)
    {
        using var tmp = new TempDir();
        var modelDir = family switch
        {
            // llama.cpp's llama architecture attends to the whole context: a Mistral without a sliding window
            "mistral" => Model(tmp.Path, "mistral", 11, c => c.Remove("sliding_window")),
            // llama.cpp's phi3 attends to the whole context too (its Phi SWA is disabled)
            "phi3" => Phi3Model(tmp.Path),
            // Llama 3.2's shape: tied embeddings and llama3 rope scaling (rope_freqs.weight)
            "llama3.2" => Model(tmp.Path, "llama", 12, c =>
            {
                c["tie_word_embeddings"] = true;
                c["rope_theta"] = 500000.0;
                c["rope_scaling"] = new JsonObject { ["rope_type"] = "llama3", ["factor"] = 8.0, ["low_freq_factor"] = 1.0, ["high_freq_factor"] = 4.0, ["original_max_position_embeddings"] = 16 };
            }),
            // Gemma 3 as llama.cpp fixes it: every sixth layer global, local RoPE base 10000, scores by head_dim^-0.5;
            // a 5-token window, so the 7-30 token prompts cross it, and linear RoPE scaling on the global layers
            "gemma3" => Model(tmp.Path, "gemma3", 14, c =>
            {
                c["num_hidden_layers"] = 6;
                c["sliding_window_pattern"] = 6;
                c["query_pre_attn_scalar"] = 12;
            }),
            _ => Model(tmp.Path, family, 13),
        };
        string[] targets = family switch
        {
            "gpt2" => ["c_attn", "c_proj", "c_fc"],
            "phi3" => ["qkv_proj", "o_proj", "gate_up_proj", "down_proj"],
            _ => ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "down_proj"],
        };
        var adapterDir = RandomModels.CreateAdapter(tmp.Path, modelDir, 21, targets);
        var mergedDir = Path.Combine(tmp.Path, "merged");
        MergedModelExporter.Export(modelDir, adapterDir, mergedDir);
        var r = GgufPackage.Write(modelDir, adapterDir, Path.Combine(tmp.Path, "gguf"), GgufQuant.F16);
        Assert.Equal(family switch { "qwen2" or "qwen3" or "gemma3" or "phi3" or "gpt2" => family, _ => "llama" }, r.Architecture);
        Assert.Equal(family == "phi3" ? "default" : "gpt-2", r.PreTokenizer);

        using var backend = new CpuBackend(2);
        if (family == "gemma3")
        {
            // f32 first: exact up to llama.cpp's CPU GELU, which looks its result up in a table indexed by the
            // f16-rounded input (GGML_GELU_FP16), ~2^-11 relative per activation (measured KL 2.4e-5; the same
            // without the sliding window, so it is not the window)
            var f32 = GgufModelExporter.Export(modelDir, adapterDir, Path.Combine(tmp.Path, "f32.gguf"), GgufQuant.F32);
            using var ours32 = InferenceModel.Load(mergedDir, null, backend, 64, DType.F32, forwardTokens: 64);
            var e = Compare(f32.Path, null, ours32, "gemma3 f32");
            Assert.True(e.MaxKl <= 1e-4 && e.Top1 == 1.0, e.ToString());
        }
        using var ours = InferenceModel.Load(mergedDir, null, backend, 64, DType.F16, forwardTokens: 64);
        var a = Compare(r.Path, null, ours, $"{family} f16");
        // Gemma 3 adds the GELU table's rounding (above) to the f16 activations
        var (kl, rel) = family == "gemma3" ? (1e-3, 0.03) : (1e-4, 0.02);
        Assert.True(a.MaxKl <= kl && a.RelativeMaxAbs <= rel, a.ToString());
        AssertSameGreedy(r.Path, ours);
    }

    [Fact]
    public void Bf16_q8_0_and_q4_k_m_ggufs_of_the_sample_model_with_an_adapter_agree_within_their_rounding()
    {
        using var tmp = new TempDir();
        var adapterDir = RandomModels.CreateAdapter(tmp.Path, TinyModel, 31, ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]);
        var mergedDir = Path.Combine(tmp.Path, "merged");
        MergedModelExporter.Export(TinyModel, adapterDir, mergedDir);
        using var backend = new CpuBackend(2);

        var bf16 = GgufPackage.Write(TinyModel, adapterDir, Path.Combine(tmp.Path, "bf16"), GgufQuant.BF16);
        using (var ours = InferenceModel.Load(mergedDir, null, backend, 64, DType.BF16, forwardTokens: 64))
        {
            var a = Compare(bf16.Path, null, ours, "sample bf16");
            Assert.True(a.MaxKl <= 5e-3, a.ToString());
        }

        var q8 = GgufPackage.Write(TinyModel, adapterDir, Path.Combine(tmp.Path, "q8"), GgufQuant.Q8_0);
        Assert.Equal(new Dictionary<string, int> { ["q8_0"] = 29, ["f32"] = 9 }, q8.TensorTypes);
        using (var ours = InferenceModel.Load(mergedDir, null, backend, 64, DType.F32, forwardTokens: 64))
        {
            var a = Compare(q8.Path, null, ours, "sample q8_0");
            Assert.True(a.MaxKl <= 2e-2 && a.Top1 >= 0.8, a.ToString());
            // q4_k_m on 128-wide rows is llama-quantize's fallback mix (q5_0, q8_0 for the tied head); its bytes are
            // llama-quantize's (LlamaQuantizeTests), so this bounds only what 5-bit weights do to a random model
            var q4 = GgufPackage.Write(TinyModel, adapterDir, Path.Combine(tmp.Path, "q4"), GgufQuant.Q4_K_M);
            var b = Compare(q4.Path, null, ours, "sample q4_k_m");
            Assert.True(b.MeanKl <= 0.1 && b.Top1 >= 0.5, b.ToString());
        }
    }

    [Theory]
    [InlineData("llama")]
    [InlineData("qwen2")]
    [InlineData("qwen3")]
    [InlineData("phi3")]
    public void Lora_gguf_applied_by_llama_cpp_to_the_base_gguf_matches_our_unmerged_adapter(string family)
    {
        using var tmp = new TempDir();
        var modelDir = family == "phi3" ? Phi3Model(tmp.Path) : Model(tmp.Path, family, 41);
        // Phi-3's adapters sit on its fused matrices: one A and one B per qkv_proj / gate_up_proj
        string[] targets = family == "phi3" ? ["qkv_proj", "o_proj", "gate_up_proj", "down_proj"] : ["q_proj", "k_proj", "v_proj", "o_proj", "up_proj"];
        var adapterDir = RandomModels.CreateAdapter(tmp.Path, modelDir, 42, targets.Distinct().ToList(), rank: 4, alpha: 8, rsLora: family == "qwen2");
        var baseGguf = GgufModelExporter.Export(modelDir, null, Path.Combine(tmp.Path, "base-f32.gguf"), GgufQuant.F32);
        var lora = GgufLoraExporter.Export(modelDir, adapterDir, Path.Combine(tmp.Path, "adapter.gguf"));
        Assert.Equal(targets.Distinct().Count() * 2, lora.Modules);

        using var backend = new CpuBackend(2);
        using var ours = InferenceModel.Load(modelDir, adapterDir, backend, 64, DType.F32, forwardTokens: 64);
        var a = Compare(baseGguf.Path, lora.Path, ours, $"{family} base f32 + LoRA GGUF");
        Assert.True(a.MaxKl <= 1e-9 && a.MaxAbsDiff <= 1e-4, a.ToString());
        // and the adapter really changes the model: the base alone is far from it
        var without = Compare(baseGguf.Path, null, ours, $"{family} base alone vs adapted");
        Assert.True(without.MaxKl > 1e-3, without.ToString());
    }

    [Fact]
    public void Qlora_adapter_merges_into_the_nf4_base_it_trained_against()
    {
        using var tmp = new TempDir();
        var modelDir = Model(tmp.Path, "llama", 51);
        var adapterDir = RandomModels.CreateAdapter(tmp.Path, modelDir, 52, ["q_proj", "v_proj", "down_proj"]);
        LoraMerge.WriteBaseQuantization(adapterDir);
        var gguf = GgufModelExporter.Export(modelDir, adapterDir, Path.Combine(tmp.Path, "qlora-f32.gguf"), GgufQuant.F32);

        // our engine as QLoRA trains: NF4 base weights quantized on load, the adapter unmerged over them
        using var backend = new CpuBackend(2);
        var config = PeftAdapterConfig.Load(adapterDir);
        using var store = SafeTensorStore.Open(Path.Combine(adapterDir, PeftAdapterConfig.WeightsFileName));
        var options = new EngineOptions
        {
            Lora = new LoraOptions(config.Rank, config.Alpha, InferenceModel.AdaptedModules(store), 0f, config.UseRsLora),
            QuantizeBase = true, MaxBatch = 1, MaxSeq = 64,
        };
        using var qlora = TransformerModel.FromFolder(modelDir, backend, options);
        qlora.LoadLora(store);
        var a = Compare(gguf.Path, null, qlora, "QLoRA merged into NF4 base (f32 GGUF) vs engine NF4 + adapter");
        Assert.True(a.MaxKl <= 1e-9 && a.MaxAbsDiff <= 1e-4, a.ToString());

        // merging into the 16-bit weights instead is measurably another model
        var wrong = GgufModelExporter.Export(modelDir, adapterDir, Path.Combine(tmp.Path, "wrong.gguf"), GgufQuant.F32, BaseWeights.AsStored);
        var b = Compare(wrong.Path, null, qlora, "QLoRA merged into the 16-bit base (wrong) vs engine NF4 + adapter");
        Assert.True(b.MaxKl > 1e-3, b.ToString());
    }
}
