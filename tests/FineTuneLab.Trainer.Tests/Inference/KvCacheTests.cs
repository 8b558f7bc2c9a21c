using FineTuneLab.Trainer.Backends.Cpu;
using FineTuneLab.Trainer.Inference;
using FineTuneLab.Trainer.Tests.Models;

namespace FineTuneLab.Trainer.Tests.Inference;

public sealed class KvCacheTests
{
    [Theory]
    [InlineData("llama", false)]
    [InlineData("llama", true)]
    [InlineData("qwen2", true)]
    [InlineData("mistral", true)]
    [InlineData("gpt2", false)]
    [InlineData("gpt2", true)]
    [InlineData("qwen3", true)]
    [InlineData("llama32", false)]
    [InlineData("gemma3", true)]
    [InlineData("phi3", true)]
    public void Cached_logits_equal_full_forward_logits_at_every_position(string family, bool withAdapter)
    {
        using var tmp = new TempDir();
        var modelDir = RandomModels.CreateModel(tmp.Path, family, seed: 3);
        var adapterDir = withAdapter ? RandomModels.CreateAdapter(tmp.Path, modelDir, 9, ["all-linear"]) : null;
        using var backend = new CpuBackend(2);
        using var model = InferenceModel.Load(modelDir, adapterDir, backend, maxLength: 24);
        var ids = RandomIds(model, 14);
        var full = RandomModels.FullForwardLogits(model, ids);
        int v = model.Config.VocabSize;

        using var decoder = new CachedDecoder(model, maxLength: 24, chunkTokens: 4);
        for (int t = 0; t < ids.Length; t++)
        {
            var logits = decoder.Append(ids.AsSpan(t, 1));
            Close.Assert(full.AsSpan(t * v, v), logits, 1e-5, $"{family} position {t}");
        }
        // a prompt in chunks (4 + 4 + 3) then single tokens: the same logits
        decoder.Reset();
        Close.Assert(full.AsSpan(10 * v, v), decoder.Append(ids.AsSpan(0, 11)), 1e-5, $"{family} chunked prefill");
        Close.Assert(full.AsSpan(11 * v, v), decoder.Append(ids.AsSpan(11, 1)), 1e-5, $"{family} after chunked prefill");
        Assert.Equal(12, decoder.Length);

        // a model instance sized for decoding only (activations for one token, RoPE for the whole length) agrees
        using var small = InferenceModel.Load(modelDir, adapterDir, backend, maxLength: 24, forwardTokens: 1);
        Assert.True(small.ActivationBytes * 4 < model.ActivationBytes);
        using var smallDecoder = new CachedDecoder(small, maxLength: 24);
        Close.Assert(full.AsSpan(13 * v, v), smallDecoder.Append(ids), 1e-5, $"{family} decode-only instance");
    }

    [Fact]
    public void The_cache_refuses_to_overflow()
    {
        using var tmp = new TempDir();
        var modelDir = RandomModels.CreateModel(tmp.Path, "llama", seed: 1);
        using var backend = new CpuBackend(1);
        using var model = InferenceModel.Load(modelDir, null, backend, maxLength: 8);
        using var decoder = new CachedDecoder(model, maxLength: 8);
        decoder.Append(new int[8]);
        var e = Assert.Throws<InvalidOperationException>(() => decoder.Append(new int[1]));
        Assert.Contains("exceeds the KV cache", e.Message);
    }

    [Fact]
    public void A_decode_step_allocates_nothing_on_the_managed_heap()
    {
        using var tmp = new TempDir();
        var modelDir = RandomModels.CreateModel(tmp.Path, "llama", seed: 2);
        var adapterDir = RandomModels.CreateAdapter(tmp.Path, modelDir, 4, ["q_proj", "v_proj"]);
        using var backend = new CpuBackend(1);
        using var model = InferenceModel.Load(modelDir, adapterDir, backend, maxLength: 64);
        using var decoder = new CachedDecoder(model, maxLength: 64);
        var sampler = new TokenSampler(model.Config.VocabSize, new SamplingOptions { Temperature = 0.7f, TopK = 10, TopP = 0.9f, RepetitionPenalty = 1.1f, Seed = 1 });
        var one = new int[1];
        var logits = decoder.Append(RandomIds(model, 5));
        for (int i = 0; i < 5; i++) { one[0] = sampler.Next(logits); logits = decoder.Append(one); }
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 20; i++) { one[0] = sampler.Next(logits); logits = decoder.Append(one); }
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(0, allocated);
    }

    private static int[] RandomIds(Trainer.Models.TransformerModel model, int count) => RandomModels.RandomIds(count, model.Config.VocabSize, 17);
}
