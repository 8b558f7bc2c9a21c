using System.Text.Json;
using FineTuneLab.TestSupport;
using FineTuneLab.Trainer.Inference;

namespace FineTuneLab.Trainer.Tests.Inference;

/// <summary>Repetition penalty, temperature, top-k and top-p against scripts/hf_logits_processors_ref.py (transformers' processors in torch).</summary>
public sealed class LogitsProcessorsVsTorchTests
{
    [Fact]
    public async Task Processed_logits_match_transformers_processors()
    {
        var result = (await ExternalProcess.PythonAsync(Path.Combine(RepoPaths.Scripts, "hf_logits_processors_ref.py"))).EnsureSuccess("logits processor reference");
        using var doc = JsonDocument.Parse(result.StdOut);
        int cases = 0;
        foreach (var c in doc.RootElement.EnumerateArray())
        {
            var logits = c.GetProperty("logits").EnumerateArray().Select(e => e.GetSingle()).ToArray();
            var expected = c.GetProperty("expected").EnumerateArray()
                .Select(e => e.ValueKind == JsonValueKind.Null ? float.NegativeInfinity : e.GetSingle()).ToArray();
            var ids = c.GetProperty("input_ids").EnumerateArray().Select(e => e.GetInt32()).ToArray();
            var options = new SamplingOptions
            {
                RepetitionPenalty = c.GetProperty("penalty").GetSingle(),
                Temperature = c.GetProperty("temperature").GetSingle(),
                TopK = c.GetProperty("top_k").GetInt32(),
                TopP = c.GetProperty("top_p").GetSingle(),
            };
            var sampler = new TokenSampler(logits.Length, options);
            sampler.Observe(ids);
            var actual = logits.ToArray();
            sampler.ProcessLogits(actual);
            var what = $"case {cases} ({options})";
            for (int i = 0; i < logits.Length; i++)
            {
                if (float.IsNegativeInfinity(expected[i])) Assert.True(float.IsNegativeInfinity(actual[i]), $"{what}: token {i} should be removed, got {actual[i]}");
                else Assert.True(Math.Abs(actual[i] - expected[i]) <= 1e-5f * Math.Max(1f, Math.Abs(expected[i])), $"{what}: token {i} is {actual[i]}, expected {expected[i]}");
            }
            cases++;
        }
        Assert.Equal(9, cases);
    }

    [Fact]
    public void Greedy_picks_the_argmax_after_the_repetition_penalty()
    {
        float[] logits = [1f, 3f, 2.5f, -1f];
        var sampler = new TokenSampler(4, new SamplingOptions { Temperature = 0, RepetitionPenalty = 2f });
        Assert.Equal(1, sampler.Next(logits));
        Assert.Equal(2, sampler.Next(logits)); // token 1 is now present: 3 / 2 < 2.5
    }

    [Fact]
    public void Sampling_follows_the_distribution()
    {
        float[] logits = [0f, MathF.Log(3f), float.NegativeInfinity];
        var sampler = new TokenSampler(3, new SamplingOptions { Temperature = 1f, Seed = 9 });
        var counts = new int[3];
        for (int i = 0; i < 4000; i++) counts[sampler.Next(logits)]++;
        Assert.Equal(0, counts[2]);
        Assert.InRange(counts[1] / 4000.0, 0.72, 0.78);
    }
}
