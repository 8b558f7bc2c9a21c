using FineTuneLab.Trainer.Backends.Cpu;
using FineTuneLab.Trainer.Export;
using FineTuneLab.Trainer.Formats;
using FineTuneLab.Trainer.Models;
using FineTuneLab.Trainer.Tensors;

namespace FineTuneLab.Trainer.Tests.Inference;

/// <summary>Small random Hugging Face model folders and random non-zero PEFT adapters for inference and export tests.</summary>
internal static class RandomModels
{
    public static string Config(string family) => family switch
    {
        "llama" => """
            {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 32, "intermediate_size": 48,
             "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 61,
             "max_position_embeddings": 128, "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "tie_word_embeddings": false}
            """,
        "qwen2" => """
            {"architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "hidden_size": 32, "intermediate_size": 40,
             "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 1, "vocab_size": 53,
             "max_position_embeddings": 128, "rms_norm_eps": 1e-6, "rope_theta": 1000000.0, "tie_word_embeddings": true,
             "use_sliding_window": false}
            """,
        "mistral" => """
            {"architectures": ["MistralForCausalLM"], "model_type": "mistral", "hidden_size": 32, "intermediate_size": 48,
             "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 59,
             "max_position_embeddings": 128, "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "sliding_window": 5,
             "tie_word_embeddings": false}
            """,
        "qwen3" => """
            {"architectures": ["Qwen3ForCausalLM"], "model_type": "qwen3", "hidden_size": 36, "intermediate_size": 44,
             "num_hidden_layers": 2, "num_attention_heads": 3, "num_key_value_heads": 1, "head_dim": 10, "vocab_size": 67,
             "max_position_embeddings": 128, "rms_norm_eps": 1e-6, "rope_theta": 1000000.0, "tie_word_embeddings": true,
             "attention_bias": false, "use_sliding_window": false}
            """,
        "llama32" => """
            {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 32, "intermediate_size": 48,
             "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 8, "vocab_size": 63,
             "max_position_embeddings": 1024, "rms_norm_eps": 1e-5, "rope_theta": 500000.0, "tie_word_embeddings": true,
             "rope_scaling": {"rope_type": "llama3", "factor": 32.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                              "original_max_position_embeddings": 16}}
            """,
        "gemma3" => """
            {"architectures": ["Gemma3ForCausalLM"], "model_type": "gemma3_text", "hidden_size": 32, "intermediate_size": 56,
             "num_hidden_layers": 4, "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 12, "vocab_size": 71,
             "max_position_embeddings": 128, "rms_norm_eps": 1e-6, "rope_theta": 1000000.0, "rope_local_base_freq": 10000.0,
             "query_pre_attn_scalar": 16, "sliding_window": 5, "sliding_window_pattern": 2,
             "rope_scaling": {"rope_type": "linear", "factor": 4.0}, "final_logit_softcapping": null,
             "attn_logit_softcapping": null, "hidden_activation": "gelu_pytorch_tanh"}
            """,
        "phi3" => """
            {"architectures": ["Phi3ForCausalLM"], "model_type": "phi3", "hidden_size": 32, "intermediate_size": 40,
             "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 65,
             "max_position_embeddings": 128, "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "sliding_window": 6,
             "tie_word_embeddings": false, "rope_scaling": null}
            """,
        "gpt2" => """
            {"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2", "n_embd": 32, "n_layer": 2, "n_head": 4,
             "n_positions": 64, "vocab_size": 57, "layer_norm_epsilon": 1e-5, "activation_function": "gelu_new"}
            """,
        _ => throw new ArgumentException(family),
    };

    /// <summary>A model folder with random weights (non-trivial norms and biases too), stored as safetensors in <paramref name="dtype"/>.</summary>
    /// <remarks><paramref name="configure"/> edits config.json before the weights are drawn (rope scaling, tied embeddings, …).</remarks>
    public static string CreateModel(string root, string family, ulong seed, SafeTensorDType dtype = SafeTensorDType.F32, int? vocab = null,
        Action<System.Text.Json.Nodes.JsonObject>? configure = null)
    {
        var dir = Path.Combine(root, $"{family}-{seed}-{dtype}");
        Directory.CreateDirectory(dir);
        var json = System.Text.Json.Nodes.JsonNode.Parse(Config(family))!;
        if (vocab is { } v) json["vocab_size"] = v;
        configure?.Invoke(json.AsObject());
        File.WriteAllText(Path.Combine(dir, "config.json"), json.ToJsonString());
        var config = HfConfig.Load(dir);
        using var backend = new CpuBackend(1);
        using var model = new TransformerModel(config, backend, new EngineOptions { InferenceOnly = true, MaxBatch = 1, MaxSeq = 8 }, DType.F32);
        var rng = new SplitMix64(seed);
        var items = new List<SafeTensorWriteItem>();
        foreach (var src in model.WeightSources)
        {
            var shape = src.Param.Value.Shape;
            var values = new float[shape.Count];
            bool norm = src.Keys[0].Contains("norm") || src.Keys[0].Contains("ln_");
            if (shape.Rank == 2)
            {
                float bound = 1.5f / MathF.Sqrt(shape[1]);
                for (int i = 0; i < values.Length; i++) values[i] = rng.Uniform(-bound, bound);
            }
            else for (int i = 0; i < values.Length; i++)
                    values[i] = norm && src.Keys[0].EndsWith(".weight", StringComparison.Ordinal) ? 1f + rng.Uniform(-0.2f, 0.2f) : rng.Uniform(-0.1f, 0.1f);
            long[] stored = shape.Rank == 1 ? [shape[0]] : src.StoredTransposed ? [shape[1], shape[0]] : [shape[0], shape[1]];
            if (src.StoredTransposed && shape.Rank == 2) values = Transpose(values, shape[0], shape[1]);
            items.Add(dtype == SafeTensorDType.BF16 && shape.Rank == 2
                ? SafeTensorWriteItem.BFloat16(src.Keys[0], values, stored)
                : SafeTensorWriteItem.Float32(src.Keys[0], values, stored));
        }
        SafeTensorsWriter.Write(Path.Combine(dir, "model.safetensors"), items, new Dictionary<string, string> { ["format"] = "pt" });
        return dir;
    }

    /// <summary>A PEFT adapter for the model with random non-zero A and B on <paramref name="targets"/>, written by <see cref="PeftAdapterWriter"/>.</summary>
    public static string CreateAdapter(string root, string modelDir, ulong seed, IReadOnlyList<string> targets, int rank = 4, double alpha = 8, bool rsLora = false)
    {
        var dir = Path.Combine(root, $"adapter-{Path.GetFileName(modelDir)}-{seed}-{rank}-{rsLora}");
        using var backend = new CpuBackend(1);
        var lora = new LoraOptions(rank, alpha, targets, 0f, rsLora);
        using var model = TransformerModel.FromFolder(modelDir, backend, new EngineOptions { Lora = lora, MaxBatch = 1, MaxSeq = 8 });
        var rng = new SplitMix64(seed);
        foreach (var ad in model.Adapters)
            foreach (var t in new[] { ad.A.Value, ad.BT.Value })
            {
                var values = new float[t.Count];
                for (int i = 0; i < values.Length; i++) values[i] = rng.Uniform(-0.3f, 0.3f);
                HostTransfer.Write(backend, t, values);
            }
        PeftAdapterWriter.Write(dir, model, PeftAdapterConfig.From(lora, model.Config, modelDir));
        return dir;
    }

    public static int[] RandomIds(int count, int vocab, ulong seed)
    {
        var rng = new SplitMix64(seed);
        return Enumerable.Range(0, count).Select(_ => (int)(rng.Next() % (ulong)vocab)).ToArray();
    }

    /// <summary>Logits [T, V] of the training forward (no cache) over the whole sequence.</summary>
    public static float[] FullForwardLogits(TransformerModel model, int[] ids)
    {
        var labels = Enumerable.Repeat(-100, ids.Length).ToArray();
        model.SetBatch(ids, labels, 1, ids.Length);
        model.Run(backward: false, 1f);
        using var buffer = new NativeBuffer((long)ids.Length * model.Config.VocabSize * sizeof(float));
        var logits = buffer.AsTensor(DType.F32, new TensorShape(ids.Length, model.Config.VocabSize));
        model.ComputeLogits(logits);
        return logits.AsFloat().ToArray();
    }

    private static float[] Transpose(float[] m, int rows, int cols)
    {
        var t = new float[m.Length];
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++)
                t[c * rows + r] = m[r * cols + c];
        return t;
    }
}

/// <summary>A temporary folder removed at dispose.</summary>
internal sealed class TempDir : IDisposable
{
    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "ftl-infer-" + Guid.NewGuid().ToString("N"));
    public TempDir() => Directory.CreateDirectory(Path);
    public void Dispose() => Directory.Delete(Path, recursive: true);
}
