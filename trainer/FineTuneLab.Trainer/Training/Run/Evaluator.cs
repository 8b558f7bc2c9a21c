using FineTuneLab.Trainer.Backends;
using FineTuneLab.Trainer.Models;
using FineTuneLab.Trainer.Tensors;

namespace FineTuneLab.Trainer.Training.Run;

/// <summary>Mean loss over every validation token, how often the most likely token was the right one, and exp(loss).</summary>
public readonly record struct EvalResult(double Loss, double TokenAccuracy, double Perplexity, long Tokens);

/// <summary>
/// Evaluates the model on the validation rows: forward only (no LoRA dropout, no gradients), micro-batched like
/// training; logits are computed a chunk of rows at a time so memory stays at chunk × vocab.
/// </summary>
public sealed class Evaluator : IDisposable
{
    private const int ChunkRows = 64;
    private readonly TransformerModel _model;
    private readonly BatchStream _batches;
    private readonly Arena _logitsMemory;
    private readonly Tensor _logits;

    public Evaluator(TransformerModel model, BatchStream batches)
    {
        _model = model;
        _batches = batches;
        var vocab = model.Config.VocabSize;
        _logitsMemory = new Arena("evaluation logits", model.Backend.AllocateMemory(Arena.Aligned((long)ChunkRows * vocab * sizeof(float))), ownsBlock: true);
        _logits = _logitsMemory.Allocate(DType.F32, ChunkRows, vocab);
    }

    public EvalResult Run(IEnumerable<TrainingSequence> rows, int microBatchSize, int maxBatches)
    {
        double lossSum = 0;
        long tokens = 0, correct = 0;
        var batches = 0;
        foreach (var chunk in rows.Chunk(microBatchSize))
        {
            if (maxBatches > 0 && batches == maxBatches) break;
            batches++;
            var mb = _batches.Assemble(chunk);
            var valid = _model.SetBatch(mb.InputIds.Span, mb.Labels.Span, mb.Batch, mb.Seq, mb.PositionIds.Span, mb.SegmentIds.Span);
            if (valid == 0) continue;
            var ce = _model.Run(backward: false, 0f);
            lossSum += ce.LossSum;
            tokens += ce.ValidTokens;
            correct += CountCorrect(mb);
        }
        if (tokens == 0) return new EvalResult(double.NaN, double.NaN, double.NaN, 0);
        var loss = lossSum / tokens;
        return new EvalResult(loss, (double)correct / tokens, Math.Exp(loss), tokens);
    }

    /// <summary>Positions whose argmax logit is the next label (the same shifted targets the loss uses).</summary>
    private long CountCorrect(MicroBatch mb)
    {
        var labels = mb.Labels.Span;
        var n = mb.Batch * mb.Seq;
        var vocab = _model.Config.VocabSize;
        long correct = 0;
        for (var first = 0; first < n; first += ChunkRows)
        {
            var rows = Math.Min(ChunkRows, n - first);
            var dest = _logits.Slice(0, rows);
            _model.ComputeLogits(dest, first, rows);
            var host = HostTransfer.Read(_model.Backend, dest);
            for (var r = 0; r < rows; r++)
            {
                var i = first + r;
                var t = i % mb.Seq;
                if (t + 1 >= mb.Seq) continue;
                var target = labels[i + 1];
                if (target == CrossEntropyResult.IgnoreIndex) continue;
                var row = host.AsSpan(r * vocab, vocab);
                var best = 0;
                for (var v = 1; v < vocab; v++) if (row[v] > row[best]) best = v;
                if (best == target) correct++;
            }
        }
        return correct;
    }

    public void Dispose() => _logitsMemory.Dispose();
}
