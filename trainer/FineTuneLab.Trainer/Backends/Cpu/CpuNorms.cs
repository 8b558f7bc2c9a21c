using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;
using FineTuneLab.Trainer.Tensors;
using static FineTuneLab.Trainer.Backends.Cpu.WorkerPoolExtensions;

namespace FineTuneLab.Trainer.Backends.Cpu;

/// <summary>RMSNorm and LayerNorm, forward and backward. Rows are independent; weight/bias gradients are column sums in row order.</summary>
internal static unsafe class CpuNorms
{
    private const int RowsPerItem = 16;
    private const int Sub = 512;

    private struct RmsForward : IParallelBody
    {
        public float* X, W, Y, Rstd; public int C; public long Rows; public float Eps, Offset;
        public void Execute(int item, int thread)
        {
            var w = new ReadOnlySpan<float>(W, C);
            var end = Math.Min(Rows, (long)(item + 1) * RowsPerItem);
            for (var r = (long)item * RowsPerItem; r < end; r++)
            {
                var x = new ReadOnlySpan<float>(X + r * C, C);
                var y = new Span<float>(Y + r * C, C);
                var rstd = 1f / MathF.Sqrt(TensorPrimitives.SumOfSquares(x) / C + Eps);
                Rstd[r] = rstd;
                TensorPrimitives.Multiply(x, rstd, y);
                if (Offset == 0f) TensorPrimitives.Multiply(y, w, y);
                else for (var i = 0; i < C; i++) y[i] *= w[i] + Offset; // Gemma: xhat·(1 + w), the sum formed first as in fp32 torch
            }
        }
    }

    public static void RmsNormForward(WorkerPool pool, Tensor x, Tensor weight, float eps, Tensor y, Tensor rstd, float weightOffset)
    {
        var c = x.Shape.Last;
        var body = new RmsForward { X = x.Ptr<float>(), W = weight.Ptr<float>(), Y = y.Ptr<float>(), Rstd = rstd.Ptr<float>(), C = c, Rows = x.Shape.Rows, Eps = eps, Offset = weightOffset };
        pool.Run(Chunks(body.Rows, RowsPerItem), ref body);
    }

    private struct RmsBackward : IParallelBody
    {
        public float* DY, X, W, Rstd, DX; public int C; public long Rows; public bool Accumulate; public float Offset;

        // g = dy · (w + offset)
        private readonly void Scaled(float* dy, int c0, Span<float> g)
        {
            var dys = new ReadOnlySpan<float>(dy + c0, g.Length);
            TensorPrimitives.Multiply(dys, new ReadOnlySpan<float>(W + c0, g.Length), g);
            if (Offset != 0f) TensorPrimitives.MultiplyAdd(dys, Offset, g, g);
        }

        public void Execute(int item, int thread)
        {
            var end = Math.Min(Rows, (long)(item + 1) * RowsPerItem);
            var g = stackalloc float[Sub];
            for (var r = (long)item * RowsPerItem; r < end; r++)
            {
                var dy = DY + r * C;
                var x = X + r * C;
                var dx = DX + r * C;
                var rstd = Rstd[r];
                // dx = rstd * (g - x * rstd² * mean(g·x)), g = dy·w; in sub-blocks with g on the stack
                var dot = 0f;
                for (var c0 = 0; c0 < C; c0 += Sub)
                {
                    var n = Math.Min(Sub, C - c0);
                    var gs = new Span<float>(g, n);
                    Scaled(dy, c0, gs);
                    dot += TensorPrimitives.Dot(gs, new ReadOnlySpan<float>(x + c0, n));
                }
                var coef = rstd * rstd * rstd * dot / C;
                for (var c0 = 0; c0 < C; c0 += Sub)
                {
                    var n = Math.Min(Sub, C - c0);
                    var gs = new Span<float>(g, n);
                    Scaled(dy, c0, gs);
                    TensorPrimitives.Multiply(gs, rstd, gs);
                    TensorPrimitives.MultiplyAdd(new ReadOnlySpan<float>(x + c0, n), -coef, gs, gs);
                    var dxs = new Span<float>(dx + c0, n);
                    if (Accumulate) TensorPrimitives.Add(dxs, gs, dxs);
                    else gs.CopyTo(dxs);
                }
            }
        }
    }

    /// <summary>dParam[c] += Σ_r dy[r,c] · xhat[r,c] (and dBias[c] += Σ_r dy[r,c]), xhat = (x - mean)·rstd, per column chunk.</summary>
    private struct NormParamGrad : IParallelBody
    {
        public float* DY, X, Mean, Rstd, DW, DB; public int C; public long Rows;
        public void Execute(int item, int thread)
        {
            var c0 = item * CpuElementwise.ColumnChunk;
            var n = Math.Min(CpuElementwise.ColumnChunk, C - c0);
            var xhat = stackalloc float[CpuElementwise.ColumnChunk];
            var xh = new Span<float>(xhat, n);
            for (long r = 0; r < Rows; r++)
            {
                var dy = new ReadOnlySpan<float>(DY + r * C + c0, n);
                var x = new ReadOnlySpan<float>(X + r * C + c0, n);
                var mean = Mean == null ? 0f : Mean[r];
                if (DW != null)
                {
                    var dw = new Span<float>(DW + c0, n);
                    TensorPrimitives.Subtract(x, mean, xh);
                    TensorPrimitives.Multiply(xh, Rstd[r], xh);
                    TensorPrimitives.MultiplyAdd(dy, xh, dw, dw);
                }
                if (DB != null)
                {
                    var db = new Span<float>(DB + c0, n);
                    TensorPrimitives.Add(db, dy, db);
                }
            }
        }
    }

    public static void RmsNormBackward(WorkerPool pool, Tensor dY, Tensor x, Tensor weight, Tensor rstd, Tensor dX, Tensor dWeight, bool accumulate,
        float weightOffset)
    {
        var c = x.Shape.Last;
        var body = new RmsBackward { DY = dY.Ptr<float>(), X = x.Ptr<float>(), W = weight.Ptr<float>(), Rstd = rstd.Ptr<float>(), DX = dX.Ptr<float>(), C = c, Rows = x.Shape.Rows, Accumulate = accumulate, Offset = weightOffset };
        pool.Run(Chunks(body.Rows, RowsPerItem), ref body);
        if (!dWeight.IsEmpty)
        {
            var pg = new NormParamGrad { DY = dY.Ptr<float>(), X = x.Ptr<float>(), Rstd = rstd.Ptr<float>(), DW = dWeight.Ptr<float>(), C = c, Rows = x.Shape.Rows };
            pool.Run(Chunks(c, CpuElementwise.ColumnChunk), ref pg);
        }
    }

    private struct LnForward : IParallelBody
    {
        public float* X, W, B, Y, Mean, Rstd; public int C; public long Rows; public float Eps;
        public void Execute(int item, int thread)
        {
            var end = Math.Min(Rows, (long)(item + 1) * RowsPerItem);
            for (var r = (long)item * RowsPerItem; r < end; r++)
            {
                var x = X + r * C;
                var y = Y + r * C;
                var mean = TensorPrimitives.Sum(new ReadOnlySpan<float>(x, C)) / C;
                var var = 0f;
                for (var i = 0; i < C; i++) { var d = x[i] - mean; var += d * d; }
                var rstd = 1f / MathF.Sqrt(var / C + Eps);
                Mean[r] = mean;
                Rstd[r] = rstd;
                for (var i = 0; i < C; i++) y[i] = (x[i] - mean) * rstd * W[i] + B[i];
            }
        }
    }

    public static void LayerNormForward(WorkerPool pool, Tensor x, Tensor weight, Tensor bias, float eps, Tensor y, Tensor mean, Tensor rstd)
    {
        var c = x.Shape.Last;
        var body = new LnForward { X = x.Ptr<float>(), W = weight.Ptr<float>(), B = bias.Ptr<float>(), Y = y.Ptr<float>(), Mean = mean.Ptr<float>(), Rstd = rstd.Ptr<float>(), C = c, Rows = x.Shape.Rows, Eps = eps };
        pool.Run(Chunks(body.Rows, RowsPerItem), ref body);
    }

    private struct LnBackward : IParallelBody
    {
        public float* DY, X, W, Mean, Rstd, DX; public int C; public long Rows; public bool Accumulate;
        public void Execute(int item, int thread)
        {
            var end = Math.Min(Rows, (long)(item + 1) * RowsPerItem);
            for (var r = (long)item * RowsPerItem; r < end; r++)
            {
                var dy = DY + r * C;
                var x = X + r * C;
                var dx = DX + r * C;
                var mean = Mean[r];
                var rstd = Rstd[r];
                // dx = rstd * (g - mean(g) - xhat * mean(g·xhat)), g = dy·w
                float sumG = 0, sumGx = 0;
                for (var i = 0; i < C; i++)
                {
                    var g = dy[i] * W[i];
                    sumG += g;
                    sumGx += g * (x[i] - mean) * rstd;
                }
                var meanG = sumG / C;
                var meanGx = sumGx / C;
                for (var i = 0; i < C; i++)
                {
                    var v = rstd * (dy[i] * W[i] - meanG - (x[i] - mean) * rstd * meanGx);
                    dx[i] = Accumulate ? dx[i] + v : v;
                }
            }
        }
    }

    public static void LayerNormBackward(WorkerPool pool, Tensor dY, Tensor x, Tensor weight, Tensor mean, Tensor rstd, Tensor dX, Tensor dWeight, Tensor dBias, bool accumulate)
    {
        var c = x.Shape.Last;
        var body = new LnBackward { DY = dY.Ptr<float>(), X = x.Ptr<float>(), W = weight.Ptr<float>(), Mean = mean.Ptr<float>(), Rstd = rstd.Ptr<float>(), DX = dX.Ptr<float>(), C = c, Rows = x.Shape.Rows, Accumulate = accumulate };
        pool.Run(Chunks(body.Rows, RowsPerItem), ref body);
        if (!dWeight.IsEmpty || !dBias.IsEmpty)
        {
            var pg = new NormParamGrad
            {
                DY = dY.Ptr<float>(), X = x.Ptr<float>(), Mean = mean.Ptr<float>(), Rstd = rstd.Ptr<float>(),
                DW = dWeight.IsEmpty ? null : dWeight.Ptr<float>(), DB = dBias.IsEmpty ? null : dBias.Ptr<float>(), C = c, Rows = x.Shape.Rows,
            };
            pool.Run(Chunks(c, CpuElementwise.ColumnChunk), ref pg);
        }
    }
}
