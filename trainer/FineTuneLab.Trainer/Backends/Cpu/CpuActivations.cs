using FineTuneLab.Trainer.Tensors;
using static FineTuneLab.Trainer.Backends.Cpu.WorkerPoolExtensions;

namespace FineTuneLab.Trainer.Backends.Cpu;

/// <summary>SwiGLU, GELU (tanh) and dropout, elementwise in fixed chunks, with PyTorch's formulas.</summary>
internal static unsafe class CpuActivations
{
    // PyTorch's kBeta = sqrt(2) * (2/sqrt(pi)) * 0.5 and kKappa.
    private const float GeluBeta = (float)(1.4142135623730951 * 1.1283791670955126 * 0.5);
    private const float GeluKappa = 0.044715f;

    private struct SwiGlu : IParallelBody
    {
        public float* G, U, Y, DY, DG, DU; public long N; public bool Backward;
        public void Execute(int item, int thread)
        {
            var s = (long)item * ElementChunk;
            var e = Math.Min(N, s + ElementChunk);
            if (!Backward)
            {
                for (var i = s; i < e; i++)
                {
                    var g = G[i];
                    Y[i] = g / (1f + MathF.Exp(-g)) * U[i];
                }
            }
            else
            {
                for (var i = s; i < e; i++)
                {
                    var g = G[i];
                    var u = U[i];
                    var dy = DY[i];
                    var sig = 1f / (1f + MathF.Exp(-g));
                    var silu = g / (1f + MathF.Exp(-g));
                    DU[i] = dy * silu;
                    DG[i] = dy * u * (sig * (1f + g * (1f - sig)));
                }
            }
        }
    }

    public static void SwiGluForward(WorkerPool pool, Tensor gate, Tensor up, Tensor y)
    {
        Check.F32(gate, "SwiGLU gate");
        Check.Same(gate, up, "SwiGLU up");
        Check.Same(gate, y, "SwiGLU output");
        var body = new SwiGlu { G = gate.Ptr<float>(), U = up.Ptr<float>(), Y = y.Ptr<float>(), N = gate.Count };
        pool.Run(Chunks(gate.Count, ElementChunk), ref body);
    }

    public static void SwiGluBackward(WorkerPool pool, Tensor dY, Tensor gate, Tensor up, Tensor dGate, Tensor dUp)
    {
        Check.F32(gate, "SwiGLU gate");
        Check.Same(gate, up, "SwiGLU up");
        Check.Same(gate, dY, "SwiGLU dY");
        Check.Same(gate, dGate, "SwiGLU dGate");
        Check.Same(gate, dUp, "SwiGLU dUp");
        var body = new SwiGlu { G = gate.Ptr<float>(), U = up.Ptr<float>(), DY = dY.Ptr<float>(), DG = dGate.Ptr<float>(), DU = dUp.Ptr<float>(), N = gate.Count, Backward = true };
        pool.Run(Chunks(gate.Count, ElementChunk), ref body);
    }

    private struct Gelu : IParallelBody
    {
        public float* X, Y, DY, DX; public long N; public bool Backward;
        public void Execute(int item, int thread)
        {
            var s = (long)item * ElementChunk;
            var e = Math.Min(N, s + ElementChunk);
            if (!Backward)
            {
                for (var i = s; i < e; i++)
                {
                    var x = X[i];
                    var inner = GeluBeta * (x + GeluKappa * (x * x * x));
                    Y[i] = 0.5f * x * (1f + MathF.Tanh(inner));
                }
            }
            else
            {
                for (var i = s; i < e; i++)
                {
                    var x = X[i];
                    var xSq = x * x;
                    var inner = GeluBeta * (x + GeluKappa * (xSq * x));
                    var tanhInner = MathF.Tanh(inner);
                    var left = 0.5f * x;
                    var right = 1f + tanhInner;
                    var leftDerivative = 0.5f * right;
                    var tanhDerivative = 1f - tanhInner * tanhInner;
                    var innerDerivative = GeluBeta * (1f + 3f * GeluKappa * xSq);
                    var rightDerivative = left * tanhDerivative * innerDerivative;
                    DX[i] = DY[i] * (leftDerivative + rightDerivative);
                }
            }
        }
    }

    public static void GeluForward(WorkerPool pool, Tensor x, Tensor y)
    {
        Check.F32(x, "GELU input");
        Check.Same(x, y, "GELU output");
        var body = new Gelu { X = x.Ptr<float>(), Y = y.Ptr<float>(), N = x.Count };
        pool.Run(Chunks(x.Count, ElementChunk), ref body);
    }

    public static void GeluBackward(WorkerPool pool, Tensor dY, Tensor x, Tensor dX)
    {
        Check.F32(x, "GELU input");
        Check.Same(x, dY, "GELU dY");
        Check.Same(x, dX, "GELU dX");
        var body = new Gelu { X = x.Ptr<float>(), DY = dY.Ptr<float>(), DX = dX.Ptr<float>(), N = x.Count, Backward = true };
        pool.Run(Chunks(x.Count, ElementChunk), ref body);
    }

    private struct DropoutBody : IParallelBody
    {
        public float* X, Y; public long N; public float P, KeepScale; public ulong Seed;
        public void Execute(int item, int thread)
        {
            var s = (long)item * ElementChunk;
            var e = Math.Min(N, s + ElementChunk);
            for (var i = s; i < e; i++)
                Y[i] = DropoutMask.Keep(Seed, i, P) ? X[i] * KeepScale : 0f;
        }
    }

    public static void Dropout(WorkerPool pool, Tensor x, float p, ulong seed, Tensor y)
    {
        Check.F32(x, "dropout input");
        Check.Same(x, y, "dropout output");
        if (!(p >= 0f && p < 1f)) throw new ArgumentOutOfRangeException(nameof(p), p, "dropout probability must be in [0, 1)");
        var body = new DropoutBody { X = x.Ptr<float>(), Y = y.Ptr<float>(), N = x.Count, P = p, KeepScale = 1f / (1f - p), Seed = seed };
        pool.Run(Chunks(x.Count, ElementChunk), ref body);
    }
}
