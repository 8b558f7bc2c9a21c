using System.Text.RegularExpressions;
using FineTuneLab.Trainer.Models;

namespace FineTuneLab.Trainer.Export.Gguf;

/// <summary>
/// How one model family is laid out in GGUF, as llama.cpp's convert_hf_to_gguf.py writes it: the architecture name,
/// the <c>{arch}.*</c> hyper-parameters, the tensor names (<c>token_embd</c>, <c>blk.N.attn_q</c>, …, <c>output</c>), and
/// the tensor transforms. Llama and Mistral are both written as "llama", whose RoPE rotates interleaved pairs: the
/// converter permutes q_proj/k_proj rows (and q/k biases) from Hugging Face's half-split layout, and we do the same.
/// Qwen2 ("qwen2") and Qwen3 ("qwen3", with per-head q/k norms as attn_q_norm/attn_k_norm) rotate halves as Hugging
/// Face does and keep its layout. Gemma 3 ("gemma3") gets its sandwich norms as post_attention_norm / ffn_norm /
/// post_ffw_norm and its norm weights + 1, as the converter writes them; Phi-3 ("phi3") keeps its fused qkv_proj
/// (attn_qkv) and gate_up_proj (ffn_up) as they are (<see cref="CheckGemma3"/> for what llama.cpp
/// fixes). GPT-2 ("gpt2") stores Conv1D weights
/// [in, out]; they are transposed to [out, in].
/// </summary>
public sealed partial class GgufArchitecture
{
    private readonly ModelConfig _c;

    private GgufArchitecture(string name, ModelConfig config)
    {
        Name = name;
        _c = config;
    }

    /// <summary>llama.cpp's name for the architecture (general.architecture).</summary>
    public string Name { get; }

    public static GgufArchitecture For(ModelConfig config, string source) => config.Family switch
    {
        ModelFamily.Llama or ModelFamily.Mistral => new("llama", config),
        ModelFamily.Qwen2 => new("qwen2", config),
        ModelFamily.Qwen3 => new("qwen3", config),
        ModelFamily.Gemma3 => new("gemma3", CheckGemma3(config, source)),
        ModelFamily.Phi3 when config.RopeLongRope is not null =>
            throw new InvalidDataException($"{source}: Phi-3 longrope scaling (rope_factors_long/short in GGUF) is not exported yet; the 4k-context Phi-3 models are"),
        ModelFamily.Phi3 => new("phi3", config),
        ModelFamily.Gpt2 => new("gpt2", config),
        _ => throw new InvalidDataException($"{source}: {config.Architecture} has no GGUF mapping yet (supported: Llama, Mistral, Qwen2, Qwen3, Gemma 3, Phi-3, GPT-2)"),
    };

    /// <summary>
    /// llama.cpp's gemma3 fixes what a Gemma 3 config may vary: every sixth layer global, the others local with a
    /// sliding window and RoPE base 10000 unscaled, and scores scaled by head_dim^-0.5 (hidden/heads for the 62-layer
    /// 27B). A config that differs would run as another model there, so it is refused by field.
    /// </summary>
    private static ModelConfig CheckGemma3(ModelConfig c, string source)
    {
        void Require(bool ok, string message)
        {
            if (!ok) throw new InvalidDataException($"{source}: {message}; llama.cpp's gemma3 cannot represent that");
        }
        Require(c.SlidingWindow is not null, "no sliding_window");
        for (int i = 0; i < c.NumLayers; i++)
            Require(c.IsLocalLayer(i) == (i % 6 != 5), $"layer {i} is {(c.IsLocalLayer(i) ? "local" : "global")} (layer_types / sliding_window_pattern other than 6)");
        Require(c.RopeLocalTheta is null or 10000.0, $"rope_local_base_freq is {c.RopeLocalTheta}, not 10000");
        Require(c.RopeLlama3 is null && c.RopeLongRope is null, "rope scaling other than linear");
        double expected = c.NumLayers == 62 ? (double)c.HiddenSize / c.NumHeads : c.HeadDim;
        Require(c.QueryPreAttnScalar is not { } q || q == expected, $"query_pre_attn_scalar is {c.QueryPreAttnScalar}, llama.cpp scales by {expected}^-0.5");
        return c;
    }

    /// <summary>The {arch}.* keys llama.cpp reads for this family.</summary>
    public void WriteHyperParameters(GgufMetadata m)
    {
        var a = Name;
        var c = _c;
        m.UInt32($"{a}.context_length", c.MaxPositionEmbeddings);
        m.UInt32($"{a}.embedding_length", c.HiddenSize);
        m.UInt32($"{a}.feed_forward_length", c.IntermediateSize);
        m.UInt32($"{a}.block_count", c.NumLayers);
        m.UInt32($"{a}.attention.head_count", c.NumHeads);
        if (c.Family == ModelFamily.Gpt2)
        {
            m.Float32($"{a}.attention.layer_norm_epsilon", c.NormEps);
            return;
        }
        m.UInt32($"{a}.attention.head_count_kv", c.NumKvHeads);
        m.Float32($"{a}.rope.freq_base", c.RopeTheta);
        m.Float32($"{a}.attention.layer_norm_rms_epsilon", c.NormEps);
        if (c.HeadDim != c.HiddenSize / c.NumHeads)
        {
            m.UInt32($"{a}.attention.key_length", c.HeadDim);
            m.UInt32($"{a}.attention.value_length", c.HeadDim);
        }
        if (a == "llama")
        {
            m.UInt32($"{a}.vocab_size", c.VocabSize);
            m.UInt32($"{a}.rope.dimension_count", c.HeadDim);
        }
        if (a == "gemma3") m.UInt32($"{a}.attention.sliding_window", c.SlidingWindow!.Value);
        if (a == "phi3")
        {
            // as the converter writes them; llama.cpp's phi3 currently attends to the whole context whatever the window
            m.UInt32($"{a}.rope.dimension_count", c.HeadDim);
            m.UInt32($"{a}.attention.sliding_window", c.SlidingWindow ?? 0);
        }
        if (c.RopeLinearFactor != 1.0)
        {
            m.String($"{a}.rope.scaling.type", "linear");
            m.Float32($"{a}.rope.scaling.factor", c.RopeLinearFactor);
        }
    }

    /// <summary>The GGUF name of a Hugging Face tensor, or null for one llama.cpp does not load (rotary inv_freq buffers).</summary>
    public string? TensorName(string hf)
    {
        if (hf.EndsWith(".rotary_emb.inv_freq", StringComparison.Ordinal) || hf.EndsWith(".attn.bias", StringComparison.Ordinal)
            || hf.EndsWith(".attn.masked_bias", StringComparison.Ordinal)) return null;
        if (_c.Family == ModelFamily.Gpt2) return Gpt2Name(hf.StartsWith("transformer.", StringComparison.Ordinal) ? hf["transformer.".Length..] : hf);
        switch (hf)
        {
            case "model.embed_tokens.weight": return "token_embd.weight";
            case "model.norm.weight": return "output_norm.weight";
            case "lm_head.weight": return _c.TieWordEmbeddings ? null : "output.weight";
        }
        var m = LayerKey().Match(hf);
        if (!m.Success) throw new InvalidDataException($"tensor '{hf}' has no GGUF name in the {Name} mapping");
        var part = m.Groups[2].Value switch
        {
            "input_layernorm" => "attn_norm",
            "self_attn.q_norm" when _c.QkNorm => "attn_q_norm",
            "self_attn.k_norm" when _c.QkNorm => "attn_k_norm",
            "self_attn.qkv_proj" when _c.FusedProjections => "attn_qkv",
            "mlp.gate_up_proj" when _c.FusedProjections => "ffn_up", // llama.cpp's phi3 splits it: silu(first half) · second half
            "self_attn.q_proj" => "attn_q",
            "self_attn.k_proj" => "attn_k",
            "self_attn.v_proj" => "attn_v",
            "self_attn.o_proj" => "attn_output",
            // Gemma 3's sandwich norms: post_attention_layernorm norms the attention output, pre_feedforward the MLP input
            "post_attention_layernorm" => _c.SandwichNorms ? "post_attention_norm" : "ffn_norm",
            "pre_feedforward_layernorm" when _c.SandwichNorms => "ffn_norm",
            "post_feedforward_layernorm" when _c.SandwichNorms => "post_ffw_norm",
            "mlp.gate_proj" => "ffn_gate",
            "mlp.up_proj" => "ffn_up",
            "mlp.down_proj" => "ffn_down",
            var other => throw new InvalidDataException($"tensor '{hf}': '{other}' has no GGUF name in the {Name} mapping"),
        };
        return $"blk.{m.Groups[1].Value}.{part}.{m.Groups[3].Value}";
    }

    private string? Gpt2Name(string hf)
    {
        switch (hf)
        {
            case "wte.weight": return "token_embd.weight";
            case "wpe.weight": return "position_embd.weight";
            case "ln_f.weight": return "output_norm.weight";
            case "ln_f.bias": return "output_norm.bias";
            case "lm_head.weight": return _c.TieWordEmbeddings ? null : "output.weight";
        }
        var m = Gpt2LayerKey().Match(hf);
        if (!m.Success) throw new InvalidDataException($"tensor '{hf}' has no GGUF name in the gpt2 mapping");
        var part = m.Groups[2].Value switch
        {
            "ln_1" => "attn_norm",
            "attn.c_attn" => "attn_qkv",
            "attn.c_proj" => "attn_output",
            "ln_2" => "ffn_norm",
            "mlp.c_fc" => "ffn_up",
            "mlp.c_proj" => "ffn_down",
            var other => throw new InvalidDataException($"tensor '{hf}': '{other}' has no GGUF name in the gpt2 mapping"),
        };
        return $"blk.{m.Groups[1].Value}.{part}.{m.Groups[3].Value}";
    }

    /// <summary>
    /// The values as llama.cpp wants them, given their Hugging Face row-major layout and shape; returns the (possibly
    /// new) shape. For "llama", q/k rows are permuted per head from halves to interleaved pairs; GPT-2's Conv1D
    /// matrices are transposed.
    /// </summary>
    public (float[] Values, long[] Shape) Transform(string hf, float[] values, long[] shape)
    {
        if (_c.Family == ModelFamily.Gpt2)
        {
            if (shape.Length == 2 && Gpt2Conv1D().IsMatch(hf)) return (Transpose(values, shape[0], shape[1]), [shape[1], shape[0]]);
            return (values, shape);
        }
        if (Name == "gemma3")
        {
            // Gemma stores RMSNorm weights as w - 1 and scales by (1 + w); llama.cpp multiplies by the weight itself
            if (hf.EndsWith("norm.weight", StringComparison.Ordinal))
                for (int i = 0; i < values.Length; i++) values[i] += _c.NormWeightOffset;
            return (values, shape);
        }
        if (Name != "llama") return (values, shape);
        if (hf.EndsWith(".self_attn.q_proj.weight", StringComparison.Ordinal) || hf.EndsWith(".self_attn.q_proj.bias", StringComparison.Ordinal))
            return (PermuteRows(values, shape, _c.NumHeads), shape);
        if (hf.EndsWith(".self_attn.k_proj.weight", StringComparison.Ordinal) || hf.EndsWith(".self_attn.k_proj.bias", StringComparison.Ordinal))
            return (PermuteRows(values, shape, _c.NumKvHeads), shape);
        return (values, shape);
    }

    /// <summary>The shape <see cref="Transform"/> gives (GPT-2's Conv1D weights, stored [in, out], become [out, in]).</summary>
    public long[] ShapeOf(string hf, long[] shape) =>
        _c.Family == ModelFamily.Gpt2 && shape.Length == 2 && Gpt2Conv1D().IsMatch(hf) ? [shape[1], shape[0]] : shape;

    /// <summary>Whether an adapter's B (rows = outputs) of this module must be permuted like its weight (q/k for "llama").</summary>
    public int? PermuteHeadsOf(string hfWeight) =>
        Name != "llama" ? null
        : hfWeight.EndsWith(".self_attn.q_proj.weight", StringComparison.Ordinal) ? _c.NumHeads
        : hfWeight.EndsWith(".self_attn.k_proj.weight", StringComparison.Ordinal) ? _c.NumKvHeads
        : null;

    /// <summary>
    /// convert_hf_to_gguf.py's LlamaModel.permute: rows viewed as [heads, 2, dim/2] and swapped to [heads, dim/2, 2],
    /// so row h·D + 2i + j comes from row h·D + j·D/2 + i.
    /// </summary>
    public static float[] PermuteRows(float[] values, long[] shape, int heads)
    {
        long rows = shape[0], cols = shape.Length > 1 ? shape[1] : 1;
        long d = rows / heads, half = d / 2;
        var result = new float[values.Length];
        for (long h = 0; h < heads; h++)
            for (long i = 0; i < half; i++)
                for (long j = 0; j < 2; j++)
                    Array.Copy(values, (h * d + j * half + i) * cols, result, (h * d + 2 * i + j) * cols, cols);
        return result;
    }

    /// <summary>
    /// Llama 3.1's frequency-dependent RoPE scaling as llama.cpp applies it: one divisor per rotated pair, the
    /// <c>rope_freqs.weight</c> tensor convert_hf_to_gguf.py's generate_extra_tensors computes (1 above the high
    /// frequency cut, factor below the low one, a smooth blend between).
    /// </summary>
    public float[]? RopeFactors()
    {
        if (_c.RopeLlama3 is not { } s || Name != "llama") return null;
        int dim = _c.HeadDim;
        var factors = new float[dim / 2];
        double lowWavelen = s.OriginalMaxPositionEmbeddings / s.LowFreqFactor;
        double highWavelen = s.OriginalMaxPositionEmbeddings / s.HighFreqFactor;
        for (int i = 0; i < dim / 2; i++)
        {
            // torch.arange(0, dim, 2, dtype=float32) / dim, in float32 as the converter computes it
            float freq = 1f / MathF.Pow((float)_c.RopeTheta, (float)(2 * i) / dim);
            double wavelen = 2 * Math.PI / freq;
            if (wavelen < highWavelen) factors[i] = 1f;
            else if (wavelen > lowWavelen) factors[i] = (float)s.Factor;
            else
            {
                double smooth = (s.OriginalMaxPositionEmbeddings / wavelen - s.LowFreqFactor) / (s.HighFreqFactor - s.LowFreqFactor);
                factors[i] = (float)(1 / ((1 - smooth) / s.Factor + smooth));
            }
        }
        return factors;
    }

    private static float[] Transpose(float[] m, long rows, long cols)
    {
        var t = new float[m.Length];
        for (long r = 0; r < rows; r++)
            for (long c = 0; c < cols; c++)
                t[c * rows + r] = m[r * cols + c];
        return t;
    }

    [GeneratedRegex(@"^model\.layers\.(\d+)\.(.+)\.(weight|bias)$")]
    private static partial Regex LayerKey();

    [GeneratedRegex(@"^h\.(\d+)\.(.+)\.(weight|bias)$")]
    private static partial Regex Gpt2LayerKey();

    [GeneratedRegex(@"(^|\.)h\.\d+\.(attn\.c_attn|attn\.c_proj|mlp\.c_fc|mlp\.c_proj)\.weight$")]
    private static partial Regex Gpt2Conv1D();
}
