using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;
using FineTuneLab.Trainer.Tensors;
using static FineTuneLab.Trainer.Backends.Cpu.WorkerPoolExtensions;

namespace FineTuneLab.Trainer.Backends.Cpu;

/// <summary>Memory-bound elementwise kernels and reductions, split into fixed chunks of elements.</summary>
internal static unsafe class CpuElementwise
{
    private static Span<float> F(float* p, long start, long end) => new(p + start, (int)(end - start));

    private struct FillBody : IParallelBody
    {
        public float* X; public long N; public float Value;
        public void Execute(int item, int thread)
        {
            var s = (long)item * ElementChunk;
            F(X, s, Math.Min(N, s + ElementChunk)).Fill(Value);
        }
    }

    public static void Fill(WorkerPool pool, Tensor x, float value)
    {
        var body = new FillBody { X = x.Ptr<float>(), N = x.Count, Value = value };
        pool.Run(Chunks(x.Count, ElementChunk), ref body);
    }

    private struct CopyBody : IParallelBody
    {
        public byte* Src, Dst; public long Bytes;
        public void Execute(int item, int thread)
        {
            const long chunk = ElementChunk * 4L;
            var s = item * chunk;
            var n = Math.Min(Bytes, s + chunk) - s;
            if (Src == null) new Span<byte>(Dst + s, (int)n).Clear();
            else Buffer.MemoryCopy(Src + s, Dst + s, n, n);
        }
    }

    public static void CopyBytes(WorkerPool pool, byte* src, byte* dst, long bytes)
    {
        var body = new CopyBody { Src = src, Dst = dst, Bytes = bytes };
        pool.Run(Chunks(bytes, ElementChunk * 4), ref body);
    }

    private struct ConvertBody : IParallelBody
    {
        public void* Src, Dst; public DType From, To; public long N;
        public void Execute(int item, int thread)
        {
            var s = (long)item * ElementChunk;
            var e = Math.Min(N, s + ElementChunk);
            for (var i = s; i < e; i++)
            {
                var v = From switch
                {
                    DType.F32 => ((float*)Src)[i],
                    DType.BF16 => HalfConvert.Bf16ToFloat(((ushort*)Src)[i]),
                    _ => HalfConvert.F16ToFloat(((ushort*)Src)[i]),
                };
                switch (To)
                {
                    case DType.F32: ((float*)Dst)[i] = v; break;
                    case DType.BF16: ((ushort*)Dst)[i] = HalfConvert.FloatToBf16(v); break;
                    default: ((ushort*)Dst)[i] = HalfConvert.FloatToF16(v); break;
                }
            }
        }
    }

    public static void Convert(WorkerPool pool, Tensor src, Tensor dst)
    {
        var body = new ConvertBody { Src = (void*)src.Data, Dst = (void*)dst.Data, From = src.DType, To = dst.DType, N = src.Count };
        pool.Run(Chunks(src.Count, ElementChunk), ref body);
    }

    private struct BinaryBody : IParallelBody
    {
        public float* A, B, Y; public long N; public float Alpha; public int Op;
        public void Execute(int item, int thread)
        {
            var s = (long)item * ElementChunk;
            var e = Math.Min(N, s + ElementChunk);
            switch (Op)
            {
                case 0: TensorPrimitives.Add(F(A, s, e), F(B, s, e), F(Y, s, e)); break;
                case 1: TensorPrimitives.MultiplyAdd(F(A, s, e), Alpha, F(Y, s, e), F(Y, s, e)); break;
                default: TensorPrimitives.Multiply(F(A, s, e), Alpha, F(Y, s, e)); break;
            }
        }
    }

    public static void Add(WorkerPool pool, Tensor a, Tensor b, Tensor y)
    {
        var body = new BinaryBody { A = a.Ptr<float>(), B = b.Ptr<float>(), Y = y.Ptr<float>(), N = y.Count, Op = 0 };
        pool.Run(Chunks(y.Count, ElementChunk), ref body);
    }

    public static void Axpy(WorkerPool pool, float alpha, Tensor x, Tensor y)
    {
        var body = new BinaryBody { A = x.Ptr<float>(), Y = y.Ptr<float>(), N = y.Count, Alpha = alpha, Op = 1 };
        pool.Run(Chunks(y.Count, ElementChunk), ref body);
    }

    public static void Scale(WorkerPool pool, Tensor x, float alpha, Tensor y)
    {
        var body = new BinaryBody { A = x.Ptr<float>(), Y = y.Ptr<float>(), N = y.Count, Alpha = alpha, Op = 2 };
        pool.Run(Chunks(y.Count, ElementChunk), ref body);
    }

    private struct AddBiasBody : IParallelBody
    {
        public float* Y, Bias; public int Cols; public long Rows; public int RowsPerItem;
        public void Execute(int item, int thread)
        {
            var bias = new ReadOnlySpan<float>(Bias, Cols);
            var end = Math.Min(Rows, (long)(item + 1) * RowsPerItem);
            for (var r = (long)item * RowsPerItem; r < end; r++)
            {
                var row = new Span<float>(Y + r * Cols, Cols);
                TensorPrimitives.Add(row, bias, row);
            }
        }
    }

    public static void AddBias(WorkerPool pool, Tensor y, Tensor bias)
    {
        var cols = y.Shape.Last;
        var rowsPerItem = Math.Max(1, ElementChunk / Math.Max(1, cols));
        var body = new AddBiasBody { Y = y.Ptr<float>(), Bias = bias.Ptr<float>(), Cols = cols, Rows = y.Shape.Rows, RowsPerItem = rowsPerItem };
        pool.Run(Chunks(y.Shape.Rows, rowsPerItem), ref body);
    }

    /// <summary>Column-chunk width of column reductions: each item sums its columns over all rows in row order.</summary>
    public const int ColumnChunk = 64;

    private struct BiasGradBody : IParallelBody
    {
        public float* DY, DBias; public int Cols; public long Rows;
        public void Execute(int item, int thread)
        {
            var c0 = item * ColumnChunk;
            var n = Math.Min(ColumnChunk, Cols - c0);
            var acc = new Span<float>(DBias + c0, n);
            for (long r = 0; r < Rows; r++)
                TensorPrimitives.Add(acc, new ReadOnlySpan<float>(DY + r * Cols + c0, n), acc);
        }
    }

    public static void BiasGrad(WorkerPool pool, Tensor dY, Tensor dBias)
    {
        var cols = dY.Shape.Last;
        var body = new BiasGradBody { DY = dY.Ptr<float>(), DBias = dBias.Ptr<float>(), Cols = cols, Rows = dY.Shape.Rows };
        pool.Run(Chunks(cols, ColumnChunk), ref body);
    }

    private const int SumSubBlock = 4096;

    private struct SumSquaresBody : IParallelBody
    {
        public float* X; public long N; public double* Partials;
        public void Execute(int item, int thread)
        {
            var s = (long)item * ElementChunk;
            var e = Math.Min(N, s + ElementChunk);
            double sum = 0;
            for (var b = s; b < e; b += SumSubBlock)
                sum += TensorPrimitives.SumOfSquares(F(X, b, Math.Min(e, b + SumSubBlock)));
            Partials[item] = sum;
        }
    }

    public static double SumOfSquares(WorkerPool pool, Tensor x, ScratchPool scratch)
    {
        var items = Chunks(x.Count, ElementChunk);
        var partials = (double*)scratch.Shared(items * (long)sizeof(double));
        var body = new SumSquaresBody { X = x.Ptr<float>(), N = x.Count, Partials = partials };
        pool.Run(items, ref body);
        double total = 0;
        for (var i = 0; i < items; i++) total += partials[i];
        return total;
    }
}
