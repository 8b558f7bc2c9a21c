using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using FineTuneLab.Trainer.Quantization;
using FineTuneLab.Trainer.Tensors;

namespace FineTuneLab.Trainer.Backends.Cpu;

/// <summary>
/// C = alpha · A · op(W) + beta · C with W in NF4: the whole matrix is never dequantized. Each work item owns a block
/// of <see cref="Nc"/> columns of C; it walks K in blocks of <see cref="Kc"/>, dequantizes just that [Kc, Nc] tile of
/// op(W) into a per-thread fp32 panel (NF4 value × double-dequantized absmax, the same float operations as
/// <see cref="Nf4.Dequantize"/>), and runs a 4×16 FMA micro-kernel over all rows of A. Every C element is accumulated
/// over k in a fixed order, so results do not depend on the thread count.
/// </summary>
internal sealed unsafe class CpuGemmNf4 : IDisposable
{
    private const int MR = 4;
    private const int NR = 16;
    private const int Nc = 64;
    private const int Kc = 256;

    private readonly WorkerPool _pool;
    private readonly NativeBuffer[] _panels;

    public CpuGemmNf4(WorkerPool pool)
    {
        _pool = pool;
        _panels = new NativeBuffer[pool.Threads];
        for (int i = 0; i < _panels.Length; i++) _panels[i] = new NativeBuffer((long)Kc * Nc * sizeof(float));
    }

    private struct Job
    {
        public float* A, C;
        public byte* Packed, AbsCodes;
        public float* Nested, Map, Table;
        public float Offset, Alpha, Beta;
        public long ElementOffset;
        public int M, N, K, Lda, Cols, BlockSize, NestedBlockSize;
        public bool TransB;
        public float** Panels;
    }

    public void Run(Tensor a, Nf4Matrix w, bool transB, Tensor c, float alpha, float beta)
    {
        // the CPU kernel reads A as fp32 (the CUDA one also takes BF16)
        if (a.DType != DType.F32) throw new NotSupportedException($"the CPU NF4 GEMM takes an F32 A, got {a.DType} {a.Shape}");
        var a2 = a.As2D();
        var c2 = c.As2D();
        int m = a2.Dim(0), k = a2.Dim(1);
        int n = transB ? w.Rows : w.Cols;
        if (m == 0 || n == 0) return;

        var panels = stackalloc float*[_pool.Threads];
        for (int i = 0; i < _pool.Threads; i++) panels[i] = (float*)_panels[i].Pointer;
        fixed (float* table = Nf4.CodeValues)
        {
            var job = new Job
            {
                A = a2.Ptr<float>(), C = c2.Ptr<float>(), Packed = w.Packed.Ptr<byte>(), AbsCodes = w.AbsmaxCodes.Ptr<byte>(),
                Nested = w.NestedAbsmax.Ptr<float>(), Map = w.QuantMap.Ptr<float>(), Table = table, Offset = *w.Offset.Ptr<float>(),
                Alpha = alpha, Beta = beta, ElementOffset = w.ElementOffset, M = m, N = n, K = k, Lda = k, Cols = w.Cols,
                BlockSize = w.BlockSize, NestedBlockSize = w.NestedBlockSize, TransB = transB, Panels = panels,
            };
            _pool.For((n + Nc - 1) / Nc, &ColumnBlock, &job);
        }
    }

    private static void ColumnBlock(int item, int thread, void* context)
    {
        ref var job = ref *(Job*)context;
        int j0 = item * Nc, cols = Math.Min(Nc, job.N - j0);
        var panel = job.Panels[thread];
        for (int pc = 0; pc < job.K; pc += Kc)
        {
            int kc = Math.Min(Kc, job.K - pc);
            DequantizeTile(ref job, panel, pc, kc, j0, cols);
            float beta = pc == 0 ? job.Beta : 1f;
            for (int i = 0; i < job.M; i += MR)
            {
                int rows = Math.Min(MR, job.M - i);
                for (int jp = 0; jp < cols; jp += NR)
                    Kernel(ref job, panel + jp, kc, job.A + (long)i * job.Lda + pc, rows, Math.Min(NR, cols - jp),
                        job.C + (long)i * job.N + j0 + jp, beta);
            }
        }
    }

    // panel[k * Nc + j] = op(W)[pc + k, j0 + j], zero beyond the last column
    private static void DequantizeTile(ref Job job, float* panel, int pc, int kc, int j0, int cols)
    {
        if (job.TransB)
        {
            // op(W) = Wᵀ: panel column j is row j0 + j of W, elements pc.. contiguous in storage
            for (int j = 0; j < cols; j++)
                DequantizeRun(ref job, job.ElementOffset + (long)(j0 + j) * job.Cols + pc, kc, panel + j, Nc);
        }
        else
        {
            for (int kk = 0; kk < kc; kk++)
                DequantizeRun(ref job, job.ElementOffset + (long)(pc + kk) * job.Cols + j0, cols, panel + (long)kk * Nc, 1);
        }
        if (cols < Nc)
            for (int kk = 0; kk < kc; kk++)
                new Span<float>(panel + (long)kk * Nc + cols, Nc - cols).Clear();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void DequantizeRun(ref Job job, long e0, int count, float* dst, int stride)
    {
        long e = e0, end = e0 + count;
        while (e < end)
        {
            long block = e / job.BlockSize;
            long blockEnd = Math.Min(end, (block + 1) * job.BlockSize);
            float absmax = job.Map[job.AbsCodes[block]] * job.Nested[block / job.NestedBlockSize] + job.Offset;
            for (; e < blockEnd; e++)
            {
                int b = job.Packed[e >> 1];
                *dst = job.Table[(e & 1) == 0 ? b >> 4 : b & 0xF] * absmax;
                dst += stride;
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Kernel(ref Job job, float* b, int kc, float* a, int rows, int cols, float* c, float beta)
    {
        Vector256<float> c00 = default, c01 = default, c10 = default, c11 = default;
        Vector256<float> c20 = default, c21 = default, c30 = default, c31 = default;
        long lda = job.Lda;
        float* a0 = a, a1 = rows > 1 ? a + lda : a, a2 = rows > 2 ? a + 2 * lda : a, a3 = rows > 3 ? a + 3 * lda : a;
        for (int k = 0; k < kc; k++)
        {
            var b0 = Vector256.Load(b + (long)k * Nc);
            var b1 = Vector256.Load(b + (long)k * Nc + 8);
            var v = Vector256.Create(a0[k]);
            c00 = Vector256.FusedMultiplyAdd(v, b0, c00);
            c01 = Vector256.FusedMultiplyAdd(v, b1, c01);
            v = Vector256.Create(a1[k]);
            c10 = Vector256.FusedMultiplyAdd(v, b0, c10);
            c11 = Vector256.FusedMultiplyAdd(v, b1, c11);
            v = Vector256.Create(a2[k]);
            c20 = Vector256.FusedMultiplyAdd(v, b0, c20);
            c21 = Vector256.FusedMultiplyAdd(v, b1, c21);
            v = Vector256.Create(a3[k]);
            c30 = Vector256.FusedMultiplyAdd(v, b0, c30);
            c31 = Vector256.FusedMultiplyAdd(v, b1, c31);
        }
        float* tile = stackalloc float[MR * NR];
        c00.Store(tile); c01.Store(tile + 8);
        c10.Store(tile + 16); c11.Store(tile + 24);
        c20.Store(tile + 32); c21.Store(tile + 40);
        c30.Store(tile + 48); c31.Store(tile + 56);
        float alpha = job.Alpha;
        long ldc = job.N;
        for (int r = 0; r < rows; r++)
        {
            float* cr = c + r * ldc, tr = tile + r * NR;
            for (int j = 0; j < cols; j++)
                cr[j] = beta == 0f ? alpha * tr[j] : MathF.FusedMultiplyAdd(beta, cr[j], alpha * tr[j]);
        }
    }

    public void Dispose()
    {
        foreach (var p in _panels) p.Dispose();
    }
}
