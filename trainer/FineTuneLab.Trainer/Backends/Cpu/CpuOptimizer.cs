using FineTuneLab.Trainer.Tensors;
using static FineTuneLab.Trainer.Backends.Cpu.WorkerPoolExtensions;

namespace FineTuneLab.Trainer.Backends.Cpu;

/// <summary>AdamW in the order and precision of PyTorch 1.13's single-tensor implementation (float32 tensor math, python-float scalars).</summary>
internal static unsafe class CpuOptimizer
{
    private struct AdamW : IParallelBody
    {
        public float* P, G, M, V; public long N;
        public float Decay, Beta1, OneMinusBeta1, Beta2, OneMinusBeta2, NegStepSize, Bc2Sqrt, Eps;
        public void Execute(int item, int thread)
        {
            var s = (long)item * ElementChunk;
            var e = Math.Min(N, s + ElementChunk);
            for (var i = s; i < e; i++)
            {
                var g = G[i];
                var p = P[i] * Decay;                                  // param.mul_(1 - lr * wd)
                var m = MathF.FusedMultiplyAdd(g, OneMinusBeta1, M[i] * Beta1);   // exp_avg.mul_(b1).add_(g, alpha=1-b1)
                var v = V[i] * Beta2 + OneMinusBeta2 * g * g;          // exp_avg_sq.mul_(b2).addcmul_(g, g, value=1-b2)
                var denom = MathF.Sqrt(v) / Bc2Sqrt + Eps;             // (exp_avg_sq.sqrt() / bc2_sqrt).add_(eps)
                P[i] = p + NegStepSize * m / denom;                    // param.addcdiv_(exp_avg, denom, value=-step_size)
                M[i] = m;
                V[i] = v;
            }
        }
    }

    public static void AdamWStep(WorkerPool pool, Tensor param, Tensor grad, Tensor m, Tensor v, in AdamWHyperparameters h)
    {
        h.Validate();
        var bc1 = 1 - Math.Pow(h.Beta1, h.Step);
        var bc2 = 1 - Math.Pow(h.Beta2, h.Step);
        var body = new AdamW
        {
            P = param.Ptr<float>(), G = grad.Ptr<float>(), M = m.Ptr<float>(), V = v.Ptr<float>(), N = param.Count,
            Decay = (float)(1 - h.LearningRate * h.WeightDecay),
            Beta1 = (float)h.Beta1, OneMinusBeta1 = (float)(1 - h.Beta1),
            Beta2 = (float)h.Beta2, OneMinusBeta2 = (float)(1 - h.Beta2),
            NegStepSize = (float)(-(h.LearningRate / bc1)),
            Bc2Sqrt = (float)Math.Sqrt(bc2),
            Eps = (float)h.Eps,
        };
        pool.Run(Chunks(param.Count, ElementChunk), ref body);
    }
}
