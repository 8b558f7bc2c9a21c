using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;
using FineTuneLab.Trainer.Tensors;

namespace FineTuneLab.Trainer.Backends.Cpu;

/// <summary>
/// LM head + cross-entropy, a chunk of tokens at a time: logits for the chunk (GEMM into the caller's scratch),
/// per-row log-softmax loss, then the logits are overwritten in place by their gradient and fed to two GEMMs
/// (dHidden = dLogits W, dW += dLogitsᵀ hidden). Chunking over tokens keeps each GEMM large and recomputes nothing.
/// </summary>
internal static unsafe class CpuCrossEntropy
{
    private struct RowLoss : IParallelBody
    {
        public float* Logits; public int* Targets; public float* Losses; public int V; public float GradScale; public bool Grad;
        public void Execute(int item, int thread)
        {
            var row = new Span<float>(Logits + (long)item * V, V);
            var target = Targets[item];
            if (target == CrossEntropyResult.IgnoreIndex)
            {
                Losses[item] = 0;
                if (Grad) row.Clear();
                return;
            }
            if ((uint)target >= (uint)V)
                throw new ArgumentOutOfRangeException("targets", $"target {target} is outside the vocabulary of {V} (use -100 to ignore a token)");
            var max = TensorPrimitives.Max(row);
            var targetLogit = row[target];
            var sum = SimdOps.ExpShiftedSum(Logits + (long)item * V, V, max);
            var logSum = MathF.Log(sum);
            Losses[item] = logSum - (targetLogit - max);
            if (Grad)
            {
                SimdOps.Scale(Logits + (long)item * V, GradScale / sum, V);
                row[target] -= GradScale;
            }
        }
    }

    public static CrossEntropyResult Run(WorkerPool pool, CpuGemm gemm, ScratchPool scratch, Tensor hidden, Tensor weight, Tensor targets,
        Tensor logitsScratch, float gradScale, Tensor dHidden, Tensor dWeight)
    {
        var t = hidden.Dim(0);
        var c = hidden.Dim(1);
        var v = weight.Dim(0);
        var grad = !dHidden.IsEmpty || !dWeight.IsEmpty;

        var chunk = logitsScratch.Dim(0);
        var losses = (float*)scratch.Shared((long)chunk * sizeof(float));
        var tgt = targets.Ptr<int>();
        double lossSum = 0;
        var valid = 0;
        for (var t0 = 0; t0 < t; t0 += chunk)
        {
            var rows = Math.Min(chunk, t - t0);
            var h = hidden.Slice(t0, rows);
            var logits = logitsScratch.Slice(0, rows);
            gemm.Run(h, false, weight, true, logits, 1f, 0f);
            var body = new RowLoss { Logits = logits.Ptr<float>(), Targets = tgt + t0, Losses = losses, V = v, GradScale = gradScale, Grad = grad };
            pool.Run(rows, ref body);
            for (var r = 0; r < rows; r++)
            {
                if (tgt[t0 + r] == CrossEntropyResult.IgnoreIndex) continue;
                lossSum += losses[r];
                valid++;
            }
            if (!dHidden.IsEmpty) gemm.Run(logits, false, weight, false, dHidden.Slice(t0, rows), 1f, 0f);
            if (!dWeight.IsEmpty) gemm.Run(logits, true, h, false, dWeight, 1f, 1f);
        }
        return new CrossEntropyResult(lossSum, valid);
    }
}
