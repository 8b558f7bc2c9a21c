using System.Runtime.Intrinsics;
using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;
using FineTuneLab.Trainer.Tensors;
using static FineTuneLab.Trainer.Backends.Cpu.WorkerPoolExtensions;

namespace FineTuneLab.Trainer.Backends.Cpu;

/// <summary>SwiGLU, GeGLU, GELU (tanh) and dropout, elementwise in fixed chunks, with PyTorch's formulas.</summary>
internal static unsafe class CpuActivations
{
    // PyTorch's kBeta = sqrt(2) * (2/sqrt(pi)) * 0.5 and kKappa.
    private const float GeluBeta = (float)(1.4142135623730951 * 1.1283791670955126 * 0.5);
    private const float GeluKappa = 0.044715f;

    // Vector math runs on sub-blocks this long, with their temporaries on the stack.
    private const int Sub = 512;

    /// <summary>
    /// One fused vector pass per chunk: σ(g) = 1 / (1 + e^−g) with <see cref="SimdOps.Exp"/>, then y = g·σ(g)·u, or
    /// dg = dy·u·σ(g)·(1 + g·(1 − σ(g))) and du = dy·g·σ(g).
    /// </summary>
    private struct SwiGlu : IParallelBody
    {
        public float* G, U, Y, DY, DG, DU; public long N; public bool Backward;
        public void Execute(int item, int thread)
        {
            var s = (long)item * ElementChunk;
            var e = Math.Min(N, s + ElementChunk);
            var one = Vector256<float>.One;
            for (var i = s; i < e; i += 8)
            {
                var n = e - i;
                var g = SimdOps.Load8(G + i, n, 0f);
                var u = SimdOps.Load8(U + i, n, 0f);
                var sig = one / (one + SimdOps.Exp(-g));
                if (!Backward)
                {
                    SimdOps.Store8(g * sig * u, Y + i, n);
                    continue;
                }
                var dy = SimdOps.Load8(DY + i, n, 0f);
                SimdOps.Store8(dy * u * sig * (one + g * (one - sig)), DG + i, n);
                SimdOps.Store8(dy * g * sig, DU + i, n);
            }
        }
    }

    public static void SwiGluForward(WorkerPool pool, Tensor gate, Tensor up, Tensor y)
    {
        var body = new SwiGlu { G = gate.Ptr<float>(), U = up.Ptr<float>(), Y = y.Ptr<float>(), N = gate.Count };
        pool.Run(Chunks(gate.Count, ElementChunk), ref body);
    }

    public static void SwiGluBackward(WorkerPool pool, Tensor dY, Tensor gate, Tensor up, Tensor dGate, Tensor dUp)
    {
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
            var th = stackalloc float[Sub];
            for (var b = s; b < e; b += Sub)
            {
                var n = (int)Math.Min(Sub, e - b);
                var x = new ReadOnlySpan<float>(X + b, n);
                var t = new Span<float>(th, n);
                for (var i = 0; i < n; i++)
                {
                    var v = x[i];
                    t[i] = GeluBeta * (v + GeluKappa * (v * v * v));
                }
                TensorPrimitives.Tanh(t, t);
                if (!Backward)
                {
                    var y = Y + b;
                    for (var i = 0; i < n; i++) y[i] = 0.5f * x[i] * (1f + t[i]);
                    continue;
                }
                var dy = DY + b;
                var dx = DX + b;
                for (var i = 0; i < n; i++)
                {
                    var v = x[i];
                    var tanhInner = t[i];
                    var leftDerivative = 0.5f * (1f + tanhInner);
                    var tanhDerivative = 1f - tanhInner * tanhInner;
                    var innerDerivative = GeluBeta * (1f + 3f * GeluKappa * (v * v));
                    dx[i] = dy[i] * (leftDerivative + 0.5f * v * tanhDerivative * innerDerivative);
                }
            }
        }
    }

    public static void GeluForward(WorkerPool pool, Tensor x, Tensor y)
    {
        var body = new Gelu { X = x.Ptr<float>(), Y = y.Ptr<float>(), N = x.Count };
        pool.Run(Chunks(x.Count, ElementChunk), ref body);
    }

    public static void GeluBackward(WorkerPool pool, Tensor dY, Tensor x, Tensor dX)
    {
        var body = new Gelu { X = x.Ptr<float>(), DY = dY.Ptr<float>(), DX = dX.Ptr<float>(), N = x.Count, Backward = true };
        pool.Run(Chunks(x.Count, ElementChunk), ref body);
    }

    /// <summary>
    /// GeGLU: y = gelu_tanh(g)·u, or dg = dy·u·gelu'(g) and du = dy·gelu(g), in one vector pass. GELU's tanh form is
    /// written through the logistic: 0.5·(1 + tanh z) = σ(2z) and 1 − tanh² z = 4σ(2z)(1 − σ(2z)), so gelu(g) = g·σ(2z)
    /// and gelu'(g) = σ + 2g·σ(1 − σ)·β(1 + 3κg²), z = β(g + κg³): no 1 + tanh cancellation for negative gates.
    /// </summary>
    private struct GeGlu : IParallelBody
    {
        public float* G, U, Y, DY, DG, DU; public long N; public bool Backward;
        public void Execute(int item, int thread)
        {
            var s = (long)item * ElementChunk;
            var e = Math.Min(N, s + ElementChunk);
            var one = Vector256<float>.One;
            var beta = Vector256.Create(GeluBeta);
            var kappa = Vector256.Create(GeluKappa);
            var two = Vector256.Create(2f);
            var three = Vector256.Create(3f);
            for (var i = s; i < e; i += 8)
            {
                var n = e - i;
                var g = SimdOps.Load8(G + i, n, 0f);
                var u = SimdOps.Load8(U + i, n, 0f);
                var g2 = g * g;
                var z = beta * (g + kappa * g2 * g);
                var sig = one / (one + SimdOps.Exp(-(two * z)));
                var gelu = g * sig;
                if (!Backward)
                {
                    SimdOps.Store8(gelu * u, Y + i, n);
                    continue;
                }
                var dy = SimdOps.Load8(DY + i, n, 0f);
                var dGelu = sig + two * g * sig * (one - sig) * beta * (one + three * kappa * g2);
                SimdOps.Store8(dy * u * dGelu, DG + i, n);
                SimdOps.Store8(dy * gelu, DU + i, n);
            }
        }
    }

    public static void GeGluForward(WorkerPool pool, Tensor gate, Tensor up, Tensor y)
    {
        var body = new GeGlu { G = gate.Ptr<float>(), U = up.Ptr<float>(), Y = y.Ptr<float>(), N = gate.Count };
        pool.Run(Chunks(gate.Count, ElementChunk), ref body);
    }

    public static void GeGluBackward(WorkerPool pool, Tensor dY, Tensor gate, Tensor up, Tensor dGate, Tensor dUp)
    {
        var body = new GeGlu { G = gate.Ptr<float>(), U = up.Ptr<float>(), DY = dY.Ptr<float>(), DG = dGate.Ptr<float>(), DU = dUp.Ptr<float>(), N = gate.Count, Backward = true };
        pool.Run(Chunks(gate.Count, ElementChunk), ref body);
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
        var body = new DropoutBody { X = x.Ptr<float>(), Y = y.Ptr<float>(), N = x.Count, P = p, KeepScale = 1f / (1f - p), Seed = seed };
        pool.Run(Chunks(x.Count, ElementChunk), ref body);
    }
}
