using FineTuneLab.Trainer.Formats;
using FineTuneLab.Trainer.Models;

namespace FineTuneLab.Trainer.Tests.Formats;

public sealed class HfConfigTests
{
    private const string Llama31Classic = """
        {"architectures":["LlamaForCausalLM"],"hidden_size":2048,"num_hidden_layers":16,"num_attention_heads":32,
         "num_key_value_heads":8,"head_dim":64,"intermediate_size":8192,"vocab_size":128256,"rms_norm_eps":1e-5,
         "rope_theta":500000.0,"max_position_embeddings":131072,"tie_word_embeddings":true,
         "rope_scaling":{"factor":32.0,"high_freq_factor":4.0,"low_freq_factor":1.0,"original_max_position_embeddings":8192,"rope_type":"llama3"}}
        """;

    private const string Llama31New = """
        {"architectures":["LlamaForCausalLM"],"hidden_size":2048,"num_hidden_layers":16,"num_attention_heads":32,
         "num_key_value_heads":8,"head_dim":64,"intermediate_size":8192,"vocab_size":128256,"rms_norm_eps":1e-5,
         "max_position_embeddings":131072,"tie_word_embeddings":true,
         "rope_parameters":{"rope_type":"llama3","rope_theta":500000.0,"factor":32.0,"high_freq_factor":4.0,"low_freq_factor":1.0,"original_max_position_embeddings":8192}}
        """;

    [Fact]
    public void Llama31_rope_scaling_reads_the_same_in_both_spellings()
    {
        var a = HfConfig.Parse(Llama31Classic);
        var b = HfConfig.Parse(Llama31New);
        Assert.Equal(a, b with { });
        Assert.Equal(ModelFamily.Llama, a.Family);
        Assert.Equal(500000.0, a.RopeTheta);
        Assert.Equal(new Llama3RopeScaling(32, 1, 4, 8192), a.RopeLlama3);
        Assert.Equal(8, a.NumKvHeads);
        Assert.Equal(64, a.HeadDim);
        Assert.True(a.TieWordEmbeddings);
        Assert.False(a.QkvBias);
    }

    [Fact]
    public void Qwen2_has_qkv_bias_and_mistral_its_window()
    {
        var q = HfConfig.Parse("""{"architectures":["Qwen2ForCausalLM"],"hidden_size":896,"num_hidden_layers":24,"num_attention_heads":14,"num_key_value_heads":2,"intermediate_size":4864,"vocab_size":151936,"rms_norm_eps":1e-6,"rope_theta":1000000.0,"tie_word_embeddings":true,"use_sliding_window":false,"sliding_window":32768}""");
        Assert.True(q.QkvBias);
        Assert.False(q.OutputBias);
        Assert.Null(q.SlidingWindow);
        var qw = HfConfig.Parse("""{"architectures":["Qwen2ForCausalLM"],"hidden_size":64,"num_hidden_layers":4,"num_attention_heads":4,"intermediate_size":8,"vocab_size":8,"use_sliding_window":true,"sliding_window":16,"max_window_layers":2}""");
        Assert.Equal(16, qw.SlidingWindow);
        Assert.Equal(2, qw.SlidingWindowFromLayer);
        Assert.Equal(64, q.HeadDim);
        var m = HfConfig.Parse("""{"architectures":["MistralForCausalLM"],"hidden_size":4096,"num_hidden_layers":32,"num_attention_heads":32,"num_key_value_heads":8,"intermediate_size":14336,"vocab_size":32000,"sliding_window":4096}""");
        Assert.Equal(ModelFamily.Mistral, m.Family);
        Assert.Equal(4096, m.SlidingWindow);
        Assert.Equal(1e-6, m.NormEps);
        Assert.Equal(10000.0, m.RopeTheta);
        Assert.False(m.TieWordEmbeddings);
    }

    [Fact]
    public void Gpt2_config_maps_to_learned_positions_layer_norm_and_gelu()
    {
        var g = HfConfig.Parse("""{"architectures":["GPT2LMHeadModel"],"n_embd":768,"n_layer":12,"n_head":12,"n_positions":1024,"vocab_size":50257,"n_inner":null,"activation_function":"gelu_new","layer_norm_epsilon":1e-5}""");
        Assert.Equal(ModelFamily.Gpt2, g.Family);
        Assert.True(g.LearnedPositions);
        Assert.Equal(NormKind.LayerNorm, g.Norm);
        Assert.Equal(MlpKind.GeluTanh, g.Mlp);
        Assert.Equal(3072, g.IntermediateSize);
        Assert.True(g.TieWordEmbeddings);
        Assert.True(g.QkvBias && g.OutputBias && g.MlpBias);
        Assert.Equal(1024, g.MaxPositionEmbeddings);
    }

    [Fact]
    public void Unknown_architecture_and_bad_fields_are_named()
    {
        var e = Assert.Throws<ModelConfigException>(() => HfConfig.Parse("""{"architectures":["FalconForCausalLM"]}""", "x/config.json"));
        Assert.Contains("FalconForCausalLM", e.Message);
        Assert.Contains("x/config.json", e.Message);
        var missing = Assert.Throws<ModelConfigException>(() => HfConfig.Parse("""{"architectures":["LlamaForCausalLM"],"hidden_size":64}"""));
        Assert.Contains("num_attention_heads", missing.Message);
        var gqa = Assert.Throws<ModelConfigException>(() => HfConfig.Parse("""{"architectures":["LlamaForCausalLM"],"hidden_size":64,"num_hidden_layers":1,"num_attention_heads":4,"num_key_value_heads":3,"intermediate_size":8,"vocab_size":8}"""));
        Assert.Contains("num_key_value_heads", gqa.Message);
        var rope = Assert.Throws<ModelConfigException>(() => HfConfig.Parse("""{"architectures":["LlamaForCausalLM"],"hidden_size":64,"num_hidden_layers":1,"num_attention_heads":4,"intermediate_size":8,"vocab_size":8,"rope_scaling":{"rope_type":"yarn","factor":4}}"""));
        Assert.Contains("yarn", rope.Message);
        var type = Assert.Throws<ModelConfigException>(() => HfConfig.Parse("""{"architectures":["LlamaForCausalLM"],"hidden_size":"64"}"""));
        Assert.Contains("hidden_size", type.Message);
    }

    // the published configs of Qwen3-0.6B, gemma-3-1b-it, Phi-3-mini-4k-instruct and Llama-3.2-1B (fields the engine reads)
    private const string Qwen3 = """{"architectures":["Qwen3ForCausalLM"],"attention_bias":false,"head_dim":128,"hidden_act":"silu","hidden_size":1024,"intermediate_size":3072,"max_position_embeddings":40960,"max_window_layers":28,"model_type":"qwen3","num_attention_heads":16,"num_hidden_layers":28,"num_key_value_heads":8,"rms_norm_eps":1e-06,"rope_scaling":null,"rope_theta":1000000,"sliding_window":null,"tie_word_embeddings":true,"use_sliding_window":false,"vocab_size":151936}""";
    private const string Gemma3 = """{"architectures":["Gemma3ForCausalLM"],"attention_bias":false,"attn_logit_softcapping":null,"final_logit_softcapping":null,"head_dim":256,"hidden_activation":"gelu_pytorch_tanh","hidden_size":1152,"intermediate_size":6912,"max_position_embeddings":32768,"model_type":"gemma3_text","num_attention_heads":4,"num_hidden_layers":26,"num_key_value_heads":1,"query_pre_attn_scalar":256,"rms_norm_eps":1e-06,"rope_local_base_freq":10000,"rope_scaling":null,"rope_theta":1000000,"sliding_window":512,"sliding_window_pattern":6,"vocab_size":262144}""";
    private const string Phi3 = """{"architectures":["Phi3ForCausalLM"],"hidden_act":"silu","hidden_size":3072,"intermediate_size":8192,"max_position_embeddings":4096,"model_type":"phi3","num_attention_heads":32,"num_hidden_layers":32,"num_key_value_heads":32,"original_max_position_embeddings":4096,"rms_norm_eps":1e-05,"rope_scaling":null,"rope_theta":10000.0,"sliding_window":2047,"tie_word_embeddings":false,"vocab_size":32064}""";
    private const string Llama32 = """{"architectures":["LlamaForCausalLM"],"head_dim":64,"hidden_act":"silu","hidden_size":2048,"intermediate_size":8192,"max_position_embeddings":131072,"model_type":"llama","num_attention_heads":32,"num_hidden_layers":16,"num_key_value_heads":8,"rms_norm_eps":1e-05,"rope_scaling":{"factor":32.0,"high_freq_factor":4.0,"low_freq_factor":1.0,"original_max_position_embeddings":8192,"rope_type":"llama3"},"rope_theta":500000.0,"tie_word_embeddings":true,"vocab_size":128256}""";

    private static string With(string json, string field, string value)
    {
        var node = System.Text.Json.Nodes.JsonNode.Parse(json)!.AsObject();
        if (value == "absent") node.Remove(field);
        else node[field] = System.Text.Json.Nodes.JsonNode.Parse(value);
        return node.ToJsonString();
    }

    [Fact]
    public void Qwen3_has_head_norms_a_free_head_dim_and_no_qkv_bias()
    {
        var c = HfConfig.Parse(Qwen3);
        Assert.Equal(ModelFamily.Qwen3, c.Family);
        Assert.True(c.QkNorm);
        Assert.Equal(128, c.HeadDim);
        Assert.Equal(2048, c.QDim); // 16 heads x 128, not the hidden size 1024
        Assert.False(c.QkvBias);
        Assert.True(c.TieWordEmbeddings);
        Assert.Null(c.SlidingWindow);
        Assert.False(c.IsLocalLayer(27));
        Assert.Equal(ModelFamily.Qwen3, HfConfig.Parse(With(Qwen3, "architectures", "absent")).Family); // from model_type
    }

    [Fact]
    public void Gemma3_reads_its_norms_scales_and_layer_pattern()
    {
        var c = HfConfig.Parse(Gemma3);
        Assert.Equal(ModelFamily.Gemma3, c.Family);
        Assert.Equal(MlpKind.GeGlu, c.Mlp);
        Assert.Equal(1f, c.NormWeightOffset);
        Assert.True(c.QkNorm && c.SandwichNorms && c.ScaleEmbeddings && c.TieWordEmbeddings);
        Assert.Equal(256.0, c.QueryPreAttnScalar);
        Assert.Equal(10000.0, c.RopeLocalTheta);
        Assert.Equal(1000000.0, c.RopeTheta);
        Assert.Equal(512, c.SlidingWindow);
        // sliding_window_pattern 6: layers 5, 11, 17, 23 are global
        Assert.Equal(Enumerable.Range(0, 26).Where(i => !c.IsLocalLayer(i)), [5, 11, 17, 23]);

        // layer_types, when present, decides; the defaults of Gemma3TextConfig apply to absent fields
        var typed = HfConfig.Parse(With(Gemma3, "layer_types", """["full_attention","sliding_attention","full_attention"]""").Replace("\"num_hidden_layers\":26", "\"num_hidden_layers\":3"));
        Assert.Equal([false, true, false], Enumerable.Range(0, 3).Select(typed.IsLocalLayer));
        var bare = HfConfig.Parse(With(With(With(Gemma3, "head_dim", "absent"), "query_pre_attn_scalar", "absent"), "tie_word_embeddings", "absent"));
        Assert.Equal((256, 256.0, true), (bare.HeadDim, bare.QueryPreAttnScalar, bare.TieWordEmbeddings));

        var scaled = HfConfig.Parse(With(Gemma3, "rope_scaling", """{"factor": 8.0, "rope_type": "linear"}"""));
        Assert.Equal(8.0, scaled.RopeLinearFactor);
    }

    [Theory]
    [InlineData("final_logit_softcapping", "30.0", "final_logit_softcapping")]
    [InlineData("attn_logit_softcapping", "50.0", "attn_logit_softcapping")]
    [InlineData("hidden_activation", "\"gelu\"", "hidden_activation 'gelu'")]
    [InlineData("layer_types", "[\"sliding_attention\", \"chunked\"]", "layer_types[1] 'chunked'")]
    [InlineData("sliding_window_pattern", "0", "sliding_window_pattern")]
    [InlineData("hidden_size", "absent", "'hidden_size'")]
    [InlineData("use_bidirectional_attention", "true", "use_bidirectional_attention")]
    public void Gemma3_settings_the_engine_does_not_implement_are_refused_by_name(string field, string value, string message)
    {
        var e = Assert.Throws<ModelConfigException>(() => HfConfig.Parse(With(Gemma3, field, value), "gemma/config.json"));
        Assert.Contains("gemma/config.json", e.Message);
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public void Phi3_has_fused_projections_its_window_and_longrope_factors()
    {
        var c = HfConfig.Parse(Phi3);
        Assert.Equal(ModelFamily.Phi3, c.Family);
        Assert.True(c.FusedProjections);
        Assert.Equal(2047, c.SlidingWindow);
        Assert.True(c.IsLocalLayer(0));
        Assert.Equal(96, c.HeadDim);
        Assert.False(c.TieWordEmbeddings);
        // Phi-3-mini-128k: 48 factors per list, max_position_embeddings 131072 over the original 4096
        string Factors(double f) => "[" + string.Join(", ", Enumerable.Range(0, 48).Select(i => (f + i * 0.01).ToString(System.Globalization.CultureInfo.InvariantCulture))) + "]";
        var longrope = With(With(Phi3, "max_position_embeddings", "131072"), "rope_scaling",
            $$"""{"type": "longrope", "long_factor": {{Factors(1.5)}}, "short_factor": {{Factors(1.0)}}}""");
        var lr = HfConfig.Parse(longrope).RopeLongRope!;
        Assert.Equal(4096, lr.OriginalMaxPositionEmbeddings);
        Assert.Equal(Math.Sqrt(1 + Math.Log(32) / Math.Log(4096)), lr.AttentionFactor, 12);
        Assert.Equal(1.01, lr.ShortFactor[1], 12);
        Assert.Equal(1.5, lr.LongFactor[0], 12);
        var shortList = With(Phi3, "rope_scaling", """{"type": "longrope", "long_factor": [1.0], "short_factor": [1.0]}""");
        Assert.Contains("need head_dim / 2 = 48 entries", Assert.Throws<ModelConfigException>(() => HfConfig.Parse(shortList)).Message);
        var notNumbers = With(Phi3, "rope_scaling", """{"type": "longrope", "long_factor": "x", "short_factor": [1.0]}""");
        Assert.Contains("'long_factor' must be a list of numbers", Assert.Throws<ModelConfigException>(() => HfConfig.Parse(notNumbers)).Message);
        var yarn = With(Phi3, "rope_scaling", """{"type": "yarn", "factor": 4.0}""");
        Assert.Contains("rope_type 'yarn' is not supported", Assert.Throws<ModelConfigException>(() => HfConfig.Parse(yarn)).Message);
        var partial = With(Phi3, "partial_rotary_factor", "0.75");
        Assert.Contains("partial_rotary_factor", Assert.Throws<ModelConfigException>(() => HfConfig.Parse(partial)).Message);
    }

    [Fact]
    public void Llama32_is_llama_with_tied_embeddings_and_llama3_rope_scaling()
    {
        var c = HfConfig.Parse(Llama32);
        Assert.Equal(ModelFamily.Llama, c.Family);
        Assert.True(c.TieWordEmbeddings);
        Assert.Equal(new Llama3RopeScaling(32, 1, 4, 8192), c.RopeLlama3);
        Assert.False(c.QkNorm || c.SandwichNorms || c.FusedProjections);
    }
}
