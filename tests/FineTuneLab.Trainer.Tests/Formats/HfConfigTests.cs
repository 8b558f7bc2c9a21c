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
}
