using System.Diagnostics;
using FineTuneLab.Trainer.Tokenizers;

namespace FineTuneLab.Trainer.Inference;

/// <summary>
/// Autoregressive generation: the prompt goes through the decoder once, then one token at a time is chosen by a
/// <see cref="TokenSampler"/> and fed back, until the token budget, an EOS id or a stop string. With a tokenizer the
/// text is decoded incrementally (HF's DecodeStream) and handed to <c>onText</c> as it appears.
/// </summary>
public sealed class TextGenerator(IDecoder decoder, HfTokenizer? tokenizer)
{
    public GenerationResult Generate(ReadOnlySpan<int> promptIds, GenerationOptions options, Action<string>? onText = null,
        CancellationToken cancellationToken = default)
    {
        if (promptIds.IsEmpty) throw new ArgumentException("the prompt is empty: give at least one token");
        if (options.MaxNewTokens < 0) throw new ArgumentException($"max new tokens must be >= 0, got {options.MaxNewTokens}");
        if (tokenizer is null && options.StopStrings.Count > 0) throw new ArgumentException("stop strings need a tokenizer");
        int room = decoder.Capacity - promptIds.Length;
        if (room < 0) throw new ArgumentException($"the prompt has {promptIds.Length} tokens; the model instance holds {decoder.Capacity}");
        int budget = Math.Min(options.MaxNewTokens, room);

        decoder.Reset();
        var sampler = new TokenSampler(decoder.VocabSize, options.Sampling);
        sampler.Observe(promptIds);
        var stream = tokenizer?.CreateStreamingDecoder(skipSpecialTokens: true);
        var stops = new StopStringMatcher(options.StopStrings);
        var newIds = new int[budget];
        int count = 0;
        string reason = budget < options.MaxNewTokens ? "length_limit" : "max_new_tokens";
        var clock = Stopwatch.StartNew();
        var logits = budget > 0 ? decoder.Append(promptIds) : default;
        double prefill = clock.Elapsed.TotalSeconds;
        clock.Restart();
        var one = new int[1];
        while (count < budget)
        {
            cancellationToken.ThrowIfCancellationRequested();
            int token = sampler.Next(logits);
            if (options.StopTokenIds.Contains(token)) { reason = "eos"; break; }
            newIds[count++] = token;
            if (stream is not null && stream.Step(token) is { } fresh)
            {
                var shown = stops.Push(fresh);
                if (shown.Length > 0) onText?.Invoke(shown);
                if (stops.Stopped) { reason = "stop_string"; break; }
            }
            if (count == budget) break;
            one[0] = token;
            logits = decoder.Append(one);
        }
        if (!stops.Stopped && stops.Flush() is { Length: > 0 } rest) onText?.Invoke(rest);
        var decode = clock.Elapsed.TotalSeconds;
        var ids = newIds.AsSpan(0, count).ToArray();
        var text = tokenizer is null ? "" : stops.Stopped ? stops.Text : tokenizer.Decode(ids, skipSpecialTokens: true);
        return new GenerationResult(promptIds.ToArray(), ids, text, reason, prefill, decode);
    }
}
