using System.Text.Json;
using FineTuneLab.Trainer.Models;

namespace FineTuneLab.Trainer.Formats;

/// <summary>
/// Reads a Hugging Face <c>config.json</c> into a <see cref="ModelConfig"/>. Defaults are the ones the transformers
/// configuration classes use when a field is absent. Both spellings of RoPE settings are understood: the classic
/// <c>rope_theta</c> + <c>rope_scaling</c> and the newer single <c>rope_parameters</c> object.
/// </summary>
public static class HfConfig
{
    public static readonly IReadOnlyDictionary<string, ModelFamily> Architectures = new Dictionary<string, ModelFamily>
    {
        ["LlamaForCausalLM"] = ModelFamily.Llama,
        ["MistralForCausalLM"] = ModelFamily.Mistral,
        ["Qwen2ForCausalLM"] = ModelFamily.Qwen2,
        ["Qwen3ForCausalLM"] = ModelFamily.Qwen3,
        ["Gemma3ForCausalLM"] = ModelFamily.Gemma3,
        ["Phi3ForCausalLM"] = ModelFamily.Phi3,
        ["GPT2LMHeadModel"] = ModelFamily.Gpt2,
    };

    private static readonly Dictionary<string, ModelFamily> ModelTypes = new()
    {
        ["llama"] = ModelFamily.Llama, ["mistral"] = ModelFamily.Mistral, ["qwen2"] = ModelFamily.Qwen2, ["qwen3"] = ModelFamily.Qwen3,
        ["gemma3_text"] = ModelFamily.Gemma3, ["phi3"] = ModelFamily.Phi3, ["gpt2"] = ModelFamily.Gpt2,
    };

    /// <summary>Reads <paramref name="path"/>: a config.json file or the model folder holding one.</summary>
    public static ModelConfig Load(string path)
    {
        if (Directory.Exists(path)) path = Path.Combine(path, "config.json");
        if (!File.Exists(path)) throw new FileNotFoundException($"model config not found: {path}", path);
        return Parse(File.ReadAllText(path), Path.GetFullPath(path));
    }

    public static ModelConfig Parse(string json, string source = "config.json")
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(json, new JsonDocumentOptions { AllowTrailingCommas = true, CommentHandling = JsonCommentHandling.Skip });
        }
        catch (JsonException e)
        {
            throw new ModelConfigException($"{source}: not valid JSON (line {e.LineNumber + 1}): {e.Message}");
        }
        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) throw new ModelConfigException($"{source}: must be a JSON object");
            var r = new Reader(root, source);
            var (family, architecture) = FamilyOf(r, source);
            var config = family == ModelFamily.Gpt2 ? ParseGpt2(r, architecture) : ParseLlamaLike(r, family, architecture, source);
            return config.Validate(source);
        }
    }

    private static (ModelFamily, string) FamilyOf(Reader r, string source)
    {
        if (r.Root.TryGetProperty("architectures", out var archs) && archs.ValueKind == JsonValueKind.Array && archs.GetArrayLength() > 0)
        {
            var name = archs[0].GetString() ?? "";
            if (Architectures.TryGetValue(name, out var f)) return (f, name);
            throw new ModelConfigException($"{source}: architecture '{name}' is not supported (supported: {string.Join(", ", Architectures.Keys)})");
        }
        var modelType = r.String("model_type", null);
        if (modelType is not null && ModelTypes.TryGetValue(modelType, out var family))
            return (family, Architectures.First(kv => kv.Value == family).Key);
        throw new ModelConfigException($"{source}: neither 'architectures' nor a known 'model_type' (got '{modelType ?? "none"}'); supported: {string.Join(", ", Architectures.Keys)}");
    }

    private static ModelConfig ParseLlamaLike(Reader r, ModelFamily family, string architecture, string source)
    {
        bool gemma = family == ModelFamily.Gemma3;
        int hidden = r.Int("hidden_size");
        int heads = r.Int("num_attention_heads");
        int kvHeads = r.IntOrNull("num_key_value_heads") ?? heads;
        // Gemma 3's head_dim defaults to 256 whatever the hidden size; everywhere else it is hidden / heads
        int headDim = r.IntOrNull("head_dim") ?? (gemma ? 256 : hidden / heads);
        var act = gemma ? r.String("hidden_activation", null) ?? r.String("hidden_act", "gelu_pytorch_tanh")! : r.String("hidden_act", "silu")!;
        if (gemma ? act is not "gelu_pytorch_tanh" : act is not ("silu" or "swish"))
            throw new ModelConfigException($"{source}: {(gemma ? "hidden_activation" : "hidden_act")} '{act}' is not supported for {architecture} (only {(gemma ? "gelu_pytorch_tanh" : "silu")})");
        if (r.Double("partial_rotary_factor", 1.0) != 1.0)
            throw new ModelConfigException($"{source}: partial_rotary_factor {r.Double("partial_rotary_factor")} is not supported (RoPE rotates the whole head)");
        if (gemma)
        {
            foreach (var cap in new[] { "final_logit_softcapping", "attn_logit_softcapping" })
                if (r.DoubleOrNull(cap) is { } v)
                    throw new ModelConfigException($"{source}: {cap} {v} is not supported (Gemma 3 checkpoints set it to null)");
            if (r.Bool("use_bidirectional_attention", false))
                throw new ModelConfigException($"{source}: use_bidirectional_attention true is not supported (causal language models only)");
        }
        bool attentionBias = r.Bool("attention_bias", false);
        var (theta, linear, llama3, longRope) = ParseRope(r, source);
        int? window = family switch
        {
            ModelFamily.Mistral or ModelFamily.Phi3 or ModelFamily.Gemma3 => r.IntOrNull("sliding_window") ?? (gemma ? 4096 : null),
            ModelFamily.Qwen2 or ModelFamily.Qwen3 when r.Bool("use_sliding_window", false) => r.IntOrNull("sliding_window"),
            _ => null,
        };
        int layers = r.Int("num_hidden_layers");
        return new ModelConfig
        {
            Family = family,
            Architecture = architecture,
            HiddenSize = hidden,
            NumLayers = layers,
            NumHeads = heads,
            NumKvHeads = kvHeads,
            HeadDim = headDim,
            IntermediateSize = r.Int("intermediate_size"),
            VocabSize = r.Int("vocab_size"),
            MaxPositionEmbeddings = r.IntOrNull("max_position_embeddings") ?? 2048,
            Norm = NormKind.RmsNorm,
            NormEps = r.Double("rms_norm_eps", 1e-6),
            Mlp = gemma ? MlpKind.GeGlu : MlpKind.SwiGlu,
            Activation = act,
            TieWordEmbeddings = r.Bool("tie_word_embeddings", gemma),
            RopeTheta = theta,
            RopeLinearFactor = linear,
            RopeLlama3 = llama3,
            RopeLongRope = longRope,
            QkvBias = family == ModelFamily.Qwen2 || attentionBias,
            OutputBias = attentionBias,
            MlpBias = r.Bool("mlp_bias", false),
            SlidingWindow = window,
            SlidingWindowFromLayer = family is ModelFamily.Qwen2 or ModelFamily.Qwen3 ? r.IntOrNull("max_window_layers") ?? 28 : 0,
            LocalLayers = gemma ? GemmaLocalLayers(r, layers, source) : null,
            RopeLocalTheta = gemma ? LocalRopeTheta(r) : null,
            QkNorm = family is ModelFamily.Qwen3 or ModelFamily.Gemma3,
            NormWeightOffset = gemma ? 1f : 0f,
            SandwichNorms = gemma,
            ScaleEmbeddings = gemma,
            QueryPreAttnScalar = gemma ? r.Double("query_pre_attn_scalar", 256) : null,
            FusedProjections = family == ModelFamily.Phi3,
        };
    }

    /// <summary>The local layers' RoPE base: rope_parameters.sliding_attention.rope_theta (newer configs) or rope_local_base_freq.</summary>
    private static double LocalRopeTheta(Reader r) =>
        r.Root.TryGetProperty("rope_parameters", out var rp) && rp.ValueKind == JsonValueKind.Object
        && rp.TryGetProperty("sliding_attention", out var local) && local.ValueKind == JsonValueKind.Object
            ? new Reader(local, $"{r.Source}: rope_parameters.sliding_attention").Double("rope_theta")
            : r.Double("rope_local_base_freq", 10000.0);

    /// <summary>
    /// transformers' _compute_longrope_parameters: with original_max_position_embeddings at the top level (Phi-3) the
    /// factor is max_position_embeddings / original, else rope_scaling.factor; attention_factor, when absent, is
    /// sqrt(1 + ln(factor) / ln(original)) (1 for factor ≤ 1).
    /// </summary>
    private static LongRopeScaling LongRope(Reader r, Reader sr)
    {
        int? topOriginal = r.IntOrNull("original_max_position_embeddings");
        int original = topOriginal ?? r.IntOrNull("max_position_embeddings") ?? 2048;
        double factor = topOriginal is { } o ? (double)(r.IntOrNull("max_position_embeddings") ?? o) / o : sr.Double("factor", 1.0);
        double attention = sr.DoubleOrNull("attention_factor")
            ?? (factor <= 1.0 ? 1.0 : Math.Sqrt(1 + Math.Log(factor) / Math.Log(original)));
        return new LongRopeScaling(sr.Doubles("short_factor"), sr.Doubles("long_factor"), attention, original);
    }

    /// <summary>Gemma 3's layer kinds: <c>layer_types</c> when given, else every <c>sliding_window_pattern</c>-th layer is global.</summary>
    private static bool[] GemmaLocalLayers(Reader r, int layers, string source)
    {
        if (r.Root.TryGetProperty("layer_types", out var types) && types.ValueKind == JsonValueKind.Array)
        {
            var local = new bool[types.GetArrayLength()];
            for (int i = 0; i < local.Length; i++)
                local[i] = types[i].ValueKind == JsonValueKind.String ? types[i].GetString() switch
                {
                    "sliding_attention" => true,
                    "full_attention" => false,
                    var t => throw new ModelConfigException($"{source}: layer_types[{i}] '{t}' is not 'sliding_attention' or 'full_attention'"),
                } : throw new ModelConfigException($"{source}: layer_types[{i}] must be a string, found {types[i].GetRawText()}");
            return local;
        }
        int pattern = r.IntOrNull("sliding_window_pattern") ?? 6;
        if (pattern <= 0) throw new ModelConfigException($"{source}: sliding_window_pattern must be positive, got {pattern}");
        return Enumerable.Range(0, layers).Select(i => (i + 1) % pattern != 0).ToArray();
    }

    private static (double Theta, double Linear, Llama3RopeScaling? Llama3, LongRopeScaling? LongRope) ParseRope(Reader r, string source)
    {
        double theta;
        JsonElement scaling;
        string field;
        if (r.Root.TryGetProperty("rope_parameters", out var rp) && rp.ValueKind == JsonValueKind.Object)
        {
            // models with several layer kinds (Gemma 3) give one set per kind; the global layers' is the scaled one
            if (rp.TryGetProperty("full_attention", out var full) && full.ValueKind == JsonValueKind.Object) rp = full;
            theta = rp.TryGetProperty("rope_theta", out var t) ? t.GetDouble() : r.Double("rope_theta", 10000.0);
            scaling = rp;
            field = "rope_parameters";
        }
        else
        {
            theta = r.Double("rope_theta", 10000.0);
            if (!r.Root.TryGetProperty("rope_scaling", out scaling) || scaling.ValueKind != JsonValueKind.Object)
                return (theta, 1.0, null, null);
            field = "rope_scaling";
        }
        var sr = new Reader(scaling, $"{source}: {field}");
        var type = sr.String("rope_type", null) ?? sr.String("type", null) ?? "default";
        switch (type)
        {
            case "default":
                return (theta, 1.0, null, null);
            case "linear":
                return (theta, sr.Double("factor"), null, null);
            case "llama3":
                return (theta, 1.0, new Llama3RopeScaling(sr.Double("factor"), sr.Double("low_freq_factor"),
                    sr.Double("high_freq_factor"), sr.Int("original_max_position_embeddings")), null);
            case "longrope":
                return (theta, 1.0, null, LongRope(r, sr));
            default:
                throw new ModelConfigException($"{source}: {field}.rope_type '{type}' is not supported (default, linear, llama3, longrope)");
        }
    }

    private static ModelConfig ParseGpt2(Reader r, string architecture)
    {
        int hidden = r.Int("n_embd");
        int heads = r.Int("n_head");
        var act = r.String("activation_function", "gelu_new")!;
        if (act is not ("gelu_new" or "gelu_pytorch_tanh"))
            throw new ModelConfigException($"{r.Source}: activation_function '{act}' is not supported for GPT-2 (gelu_new, gelu_pytorch_tanh)");
        return new ModelConfig
        {
            Family = ModelFamily.Gpt2,
            Architecture = architecture,
            HiddenSize = hidden,
            NumLayers = r.Int("n_layer"),
            NumHeads = heads,
            NumKvHeads = heads,
            HeadDim = hidden / heads,
            IntermediateSize = r.IntOrNull("n_inner") ?? 4 * hidden,
            VocabSize = r.Int("vocab_size"),
            MaxPositionEmbeddings = r.IntOrNull("n_positions") ?? 1024,
            Norm = NormKind.LayerNorm,
            NormEps = r.Double("layer_norm_epsilon", 1e-5),
            Mlp = MlpKind.GeluTanh,
            Activation = act,
            TieWordEmbeddings = r.Bool("tie_word_embeddings", true),
            LearnedPositions = true,
            QkvBias = true,
            OutputBias = true,
            MlpBias = true,
        };
    }

    /// <summary>Typed field access whose errors name the file and the field.</summary>
    private readonly record struct Reader(JsonElement Root, string Source)
    {
        private JsonElement? Field(string name) =>
            Root.TryGetProperty(name, out var v) && v.ValueKind != JsonValueKind.Null ? v : null;

        public int Int(string name) => IntOrNull(name) ?? throw new ModelConfigException($"{Source}: missing required field '{name}'");

        public int? IntOrNull(string name)
        {
            if (Field(name) is not { } v) return null;
            if (v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out var i)) return i;
            throw new ModelConfigException($"{Source}: field '{name}' must be an integer, found {v.GetRawText()}");
        }

        public double[] Doubles(string name)
        {
            if (Field(name) is not { } v) throw new ModelConfigException($"{Source}: missing required field '{name}'");
            if (v.ValueKind != JsonValueKind.Array || v.EnumerateArray().Any(e => e.ValueKind != JsonValueKind.Number))
                throw new ModelConfigException($"{Source}: field '{name}' must be a list of numbers");
            return v.EnumerateArray().Select(e => e.GetDouble()).ToArray();
        }

        public double? DoubleOrNull(string name)
        {
            if (Field(name) is not { } v) return null;
            if (v.ValueKind == JsonValueKind.Number) return v.GetDouble();
            throw new ModelConfigException($"{Source}: field '{name}' must be a number, found {v.GetRawText()}");
        }

        public double Double(string name, double? fallback = null)
        {
            if (Field(name) is not { } v)
                return fallback ?? throw new ModelConfigException($"{Source}: missing required field '{name}'");
            if (v.ValueKind == JsonValueKind.Number) return v.GetDouble();
            throw new ModelConfigException($"{Source}: field '{name}' must be a number, found {v.GetRawText()}");
        }

        public bool Bool(string name, bool fallback)
        {
            if (Field(name) is not { } v) return fallback;
            if (v.ValueKind is JsonValueKind.True or JsonValueKind.False) return v.GetBoolean();
            throw new ModelConfigException($"{Source}: field '{name}' must be true or false, found {v.GetRawText()}");
        }

        public string? String(string name, string? fallback)
        {
            if (Field(name) is not { } v) return fallback;
            if (v.ValueKind == JsonValueKind.String) return v.GetString();
            throw new ModelConfigException($"{Source}: field '{name}' must be a string, found {v.GetRawText()}");
        }
    }
}
