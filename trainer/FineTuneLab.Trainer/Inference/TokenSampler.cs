using FineTuneLab.Trainer.Models;

namespace FineTuneLab.Trainer.Inference;

/// <summary>
/// Chooses next tokens from logits with <see cref="SamplingOptions"/>, remembering which tokens the sequence holds
/// (for the repetition penalty). Seeded: the same options, prompt and logits give the same tokens. Allocation-free per token.
/// </summary>
public sealed class TokenSampler
{
    private readonly SamplingOptions _options;
    private readonly float[] _work, _scratch;
    private readonly int[] _index;
    private readonly bool[] _present;
    private SplitMix64 _rng;

    public TokenSampler(int vocabSize, SamplingOptions options)
    {
        options.Validate();
        _options = options;
        _work = new float[vocabSize];
        _scratch = new float[vocabSize];
        _index = new int[vocabSize];
        _present = new bool[vocabSize];
        _rng = new SplitMix64(options.Seed);
    }

    /// <summary>Marks tokens as present in the sequence (the prompt, then each chosen token).</summary>
    public void Observe(ReadOnlySpan<int> ids)
    {
        foreach (var id in ids) _present[id] = true;
    }

    /// <summary>Applies the processors to a copy of <paramref name="logits"/> and picks a token (which it then observes).</summary>
    public int Next(ReadOnlySpan<float> logits)
    {
        var w = _work.AsSpan();
        logits.CopyTo(w);
        ProcessLogits(w);
        int token = _options.Greedy ? LogitsProcessors.ArgMax(w) : Draw(w);
        _present[token] = true;
        return token;
    }

    /// <summary>The processed logits a draw is made from (repetition penalty; then, when sampling, temperature, top-k, top-p).</summary>
    public void ProcessLogits(Span<float> w)
    {
        LogitsProcessors.RepetitionPenalty(w, _present, _options.RepetitionPenalty);
        if (_options.Greedy) return;
        LogitsProcessors.Temperature(w, _options.Temperature);
        LogitsProcessors.TopK(w, _options.TopK, _scratch);
        LogitsProcessors.TopP(w, _options.TopP, _scratch, _index);
    }

    private int Draw(ReadOnlySpan<float> w)
    {
        float max = float.NegativeInfinity;
        foreach (var x in w) max = MathF.Max(max, x);
        double sum = 0;
        for (int i = 0; i < w.Length; i++) sum += _scratch[i] = MathF.Exp(w[i] - max);
        double u = _rng.NextDouble() * sum, acc = 0;
        int last = 0;
        for (int i = 0; i < w.Length; i++)
        {
            if (_scratch[i] == 0) continue;
            last = i;
            acc += _scratch[i];
            if (u < acc) return i;
        }
        return last;
    }
}
