namespace FineTuneLab.Trainer.Inference;

/// <summary>
/// Hugging Face's logits processors and warpers on one row of logits, in place and allocation-free (callers pass
/// scratch of vocabulary size). Removed tokens become -inf, as in transformers.
/// </summary>
public static class LogitsProcessors
{
    /// <summary>RepetitionPenaltyLogitsProcessor: for every token already present, positive logits are divided by the penalty, negative ones multiplied.</summary>
    public static void RepetitionPenalty(Span<float> logits, ReadOnlySpan<bool> present, float penalty)
    {
        if (penalty == 1f) return;
        for (int i = 0; i < logits.Length; i++)
            if (present[i]) logits[i] = logits[i] < 0 ? logits[i] * penalty : logits[i] / penalty;
    }

    /// <summary>TemperatureLogitsWarper: logits / temperature.</summary>
    public static void Temperature(Span<float> logits, float temperature)
    {
        if (temperature == 1f) return;
        for (int i = 0; i < logits.Length; i++) logits[i] /= temperature;
    }

    /// <summary>TopKLogitsWarper: removes every token whose logit is below the k-th largest (ties at the k-th value stay).</summary>
    public static void TopK(Span<float> logits, int k, Span<float> scratch)
    {
        if (k <= 0 || k >= logits.Length) return;
        var sorted = scratch[..logits.Length];
        logits.CopyTo(sorted);
        sorted.Sort();
        float threshold = sorted[logits.Length - k];
        for (int i = 0; i < logits.Length; i++)
            if (logits[i] < threshold) logits[i] = float.NegativeInfinity;
    }

    /// <summary>
    /// TopPLogitsWarper (nucleus): sorts ascending, removes the tokens whose cumulative probability is ≤ 1 - p, and
    /// always keeps the most likely one.
    /// </summary>
    public static void TopP(Span<float> logits, float p, Span<float> scratch, Span<int> indexScratch)
    {
        if (p >= 1f) return;
        int n = logits.Length;
        var sorted = scratch[..n];
        var index = indexScratch[..n];
        logits.CopyTo(sorted);
        for (int i = 0; i < n; i++) index[i] = i;
        sorted.Sort(index);
        float max = sorted[n - 1];
        double sum = 0;
        for (int i = 0; i < n; i++) sum += MathF.Exp(sorted[i] - max);
        float cumulative = 0f, cut = 1f - p;
        for (int i = 0; i < n - 1; i++)
        {
            cumulative += (float)(MathF.Exp(sorted[i] - max) / sum);
            if (cumulative <= cut) logits[index[i]] = float.NegativeInfinity;
            else break;
        }
    }

    /// <summary>Index of the largest logit (the first one on ties, as torch.argmax).</summary>
    public static int ArgMax(ReadOnlySpan<float> logits)
    {
        int best = 0;
        for (int i = 1; i < logits.Length; i++)
            if (logits[i] > logits[best]) best = i;
        return best;
    }
}
