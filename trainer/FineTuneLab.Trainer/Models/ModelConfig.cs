namespace FineTuneLab.Trainer.Models;

public enum ModelFamily { Llama, Mistral, Qwen2, Qwen3, Gemma3, Phi3, Gpt2 }

public enum NormKind { RmsNorm, LayerNorm }

/// <summary>SwiGLU: silu(gate) * up; GeGLU: gelu_tanh(gate) * up (Gemma); GeluTanh: GPT-2's plain gelu(c_fc).</summary>
public enum MlpKind { SwiGlu, GeGlu, GeluTanh }

/// <summary>Llama-3.1's frequency-dependent RoPE scaling ("rope_type": "llama3").</summary>
public sealed record Llama3RopeScaling(double Factor, double LowFreqFactor, double HighFreqFactor, int OriginalMaxPositionEmbeddings);

/// <summary>
/// Phi-3's "longrope" scaling: per-frequency divisors for sequences up to <paramref name="OriginalMaxPositionEmbeddings"/>
/// (<paramref name="ShortFactor"/>) and beyond (<paramref name="LongFactor"/>), and the factor cos and sin are scaled by.
/// </summary>
public sealed record LongRopeScaling(IReadOnlyList<double> ShortFactor, IReadOnlyList<double> LongFactor, double AttentionFactor,
    int OriginalMaxPositionEmbeddings);

/// <summary>
/// The shape and hyper-parameters of a decoder-only transformer, whatever family it came from. Rope models have
/// <see cref="LearnedPositions"/> false; GPT-2 has learned positions, LayerNorm, biases everywhere and a GELU MLP.
/// </summary>
public sealed record ModelConfig
{
    public required ModelFamily Family { get; init; }
    public required string Architecture { get; init; }
    public required int HiddenSize { get; init; }
    public required int NumLayers { get; init; }
    public required int NumHeads { get; init; }
    public required int NumKvHeads { get; init; }
    public required int HeadDim { get; init; }
    public required int IntermediateSize { get; init; }
    public required int VocabSize { get; init; }
    public required int MaxPositionEmbeddings { get; init; }
    public required NormKind Norm { get; init; }
    public required double NormEps { get; init; }
    public required MlpKind Mlp { get; init; }
    public required string Activation { get; init; }
    public required bool TieWordEmbeddings { get; init; }
    public bool LearnedPositions { get; init; }
    public double RopeTheta { get; init; } = 10000.0;
    /// <summary>"linear" RoPE scaling divides every frequency by this factor (1 = none).</summary>
    public double RopeLinearFactor { get; init; } = 1.0;
    public Llama3RopeScaling? RopeLlama3 { get; init; }
    public LongRopeScaling? RopeLongRope { get; init; }
    public bool QkvBias { get; init; }
    public bool OutputBias { get; init; }
    public bool MlpBias { get; init; }
    public int? SlidingWindow { get; init; }
    /// <summary>The first layer the sliding window applies to (Qwen2's max_window_layers; 0 = every layer).</summary>
    public int SlidingWindowFromLayer { get; init; }
    /// <summary>
    /// Per layer, whether it is a local (sliding-window) layer, for models that interleave local and global layers
    /// (Gemma 3's layer_types / sliding_window_pattern); null when <see cref="SlidingWindowFromLayer"/> decides.
    /// </summary>
    public IReadOnlyList<bool>? LocalLayers { get; init; }
    /// <summary>The RoPE base of the local layers (Gemma 3's rope_local_base_freq; they use no rope scaling).</summary>
    public double? RopeLocalTheta { get; init; }
    /// <summary>Per-head RMSNorm of q and k (weights [head_dim]) after the projections, before RoPE (Qwen3, Gemma 3).</summary>
    public bool QkNorm { get; init; }
    /// <summary>RMSNorm scales by (weight + this): 1 for Gemma, whose checkpoints store weight - 1; 0 otherwise.</summary>
    public float NormWeightOffset { get; init; }
    /// <summary>Gemma's sandwich norms: the attention and MLP outputs are normed before they join the residual, the MLP input by its own pre-norm.</summary>
    public bool SandwichNorms { get; init; }
    /// <summary>Token embeddings are multiplied by sqrt(hidden_size) (Gemma), rounded to the weights' dtype as transformers does.</summary>
    public bool ScaleEmbeddings { get; init; }
    /// <summary>Attention scores are scaled by this^-0.5 instead of head_dim^-0.5 (Gemma's query_pre_attn_scalar).</summary>
    public double? QueryPreAttnScalar { get; init; }
    /// <summary>Phi-3's fused projections: qkv_proj [q; k; v] and gate_up_proj [gate; up] (LoRA adapts the fused matrices).</summary>
    public bool FusedProjections { get; init; }

    /// <summary>Whether layer <paramref name="layer"/> attends through the sliding window (and, with <see cref="RopeLocalTheta"/>, its own RoPE tables).</summary>
    public bool IsLocalLayer(int layer) => LocalLayers is { } l ? l[layer] : SlidingWindow is not null && layer >= SlidingWindowFromLayer;

    public int QDim => NumHeads * HeadDim;
    public int KvDim => NumKvHeads * HeadDim;

    /// <summary>Checks the relations the engine relies on; the message names the offending field.</summary>
    public ModelConfig Validate(string source)
    {
        void Require(bool ok, string message)
        {
            if (!ok) throw new ModelConfigException($"{source}: {message}");
        }
        Require(HiddenSize > 0, $"hidden size must be positive, got {HiddenSize}");
        Require(NumLayers > 0, $"number of layers must be positive, got {NumLayers}");
        Require(NumHeads > 0 && NumKvHeads > 0, $"head counts must be positive (heads {NumHeads}, kv heads {NumKvHeads})");
        Require(NumHeads % NumKvHeads == 0, $"num_attention_heads {NumHeads} is not a multiple of num_key_value_heads {NumKvHeads}");
        Require(HeadDim > 0 && HeadDim % 2 == 0, $"head_dim must be positive and even, got {HeadDim}");
        Require(IntermediateSize > 0, $"intermediate size must be positive, got {IntermediateSize}");
        Require(VocabSize > 0, $"vocab_size must be positive, got {VocabSize}");
        Require(NormEps > 0, $"norm epsilon must be positive, got {NormEps}");
        Require(RopeTheta > 0, $"rope_theta must be positive, got {RopeTheta}");
        if (LocalLayers is { } local)
            Require(local.Count == NumLayers, $"layer_types has {local.Count} entries for {NumLayers} layers");
        Require(QueryPreAttnScalar is null or > 0, $"query_pre_attn_scalar must be positive, got {QueryPreAttnScalar}");
        Require(RopeLocalTheta is null or > 0, $"rope_local_base_freq must be positive, got {RopeLocalTheta}");
        if (RopeLongRope is { } lr)
            Require(lr.ShortFactor.Count == HeadDim / 2 && lr.LongFactor.Count == HeadDim / 2,
                $"longrope short_factor and long_factor need head_dim / 2 = {HeadDim / 2} entries, got {lr.ShortFactor.Count} and {lr.LongFactor.Count}");
        if (RopeLlama3 is { } s)
            Require(s.Factor > 0 && s.HighFreqFactor > s.LowFreqFactor && s.OriginalMaxPositionEmbeddings > 0,
                "llama3 rope scaling needs factor > 0, high_freq_factor > low_freq_factor and original_max_position_embeddings > 0");
        return this;
    }
}

public sealed class ModelConfigException(string message) : Exception(message);
