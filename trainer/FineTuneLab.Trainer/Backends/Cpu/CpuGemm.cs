using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using FineTuneLab.Trainer.Tensors;

namespace FineTuneLab.Trainer.Backends.Cpu;

/// <summary>
/// Single-precision GEMM in the Goto/BLIS form. C is cut into a grid of tiles (row blocks × column blocks of up to NC,
/// the grid chosen by a cost model of compute plus packing, see <see cref="ChooseGrid"/>); each tile is one work item
/// that walks K in blocks of KC, packs its slice of B into NR-wide panels (transposed and bf16/fp16-widened while
/// packing) and its A block into MR-high panels (or reads A in place, see <see cref="ReadsAInPlace"/>), and runs a
/// register-blocked FMA micro-kernel (6×32 with Vector512, 6×16 with Vector256). Packing walks the source in memory
/// order. Tiles share nothing, so one parallel region covers the whole GEMM; every C element is accumulated over k in
/// the same order whatever the grid, so results are reproducible.
/// </summary>
internal sealed unsafe class CpuGemm : IDisposable
{
    internal const int MR = 6;
    internal const int KcMax = 256;
    internal const int McMax = 120;
    internal const int NcMax = 512;
    // At most this many MR-row units of C: the GEMM has LoRA's rank on its row side (B read in place, columns split).
    private const int SmallMUnits = 4;

    private readonly WorkerPool _pool;
    private readonly int _nr;
    private readonly NativeBuffer[] _packB;
    private readonly NativeBuffer[] _packA;

    public CpuGemm(WorkerPool pool)
    {
        _pool = pool;
        _nr = Vector512.IsHardwareAccelerated ? 32 : 16;
        _packB = new NativeBuffer[pool.Threads];
        _packA = new NativeBuffer[pool.Threads];
        for (var i = 0; i < _packA.Length; i++)
        {
            _packB[i] = new NativeBuffer((long)KcMax * (NcMax + 32) * sizeof(float));
            _packA[i] = new NativeBuffer((long)(McMax + MR) * KcMax * sizeof(float));
        }
    }

    /// <summary>Micro-tile width (columns per register block), for benchmarks and tests.</summary>
    public int NR => _nr;

    private struct Job
    {
        public float* A;
        public void* B;
        public float* C;
        public int M, N, K;
        public int Lda, Ldb, Ldc;
        public bool TransA, TransB;
        public DType BType;
        public float Alpha, Beta;
        public int KcEven;
        public int RowBlocks, ColBlocks, PanelsPerCol;
        public int* RowStart;
        public float** PackB;
        public float** PackA;
        public int NR;
        // Low-rank term appended to K (LoRA fused into a frozen GEMM): C += LowScale · L · R, L F32 [M, LowRank], R F32 [LowRank, N].
        public float* L;
        public float* R;
        public int LowRank;
        public float LowScale;
    }

    // The current depth block of one tile, handed to the packing routines.
    private struct Block
    {
        public int Pc, Kc;
    }

    public void Run(Tensor a, bool transA, Tensor b, bool transB, Tensor c, float alpha, float beta) =>
        Run(a, transA, b, transB, c, alpha, beta, default, default, 0f);

    /// <summary>
    /// C = alpha · op(A) · op(B) + lowScale · L · R + beta · C in one pass over C: the low-rank product is one more
    /// depth block of every tile (L F32 [M, r], R F32 [r, N], r ≤ <see cref="KcMax"/>); empty L skips it.
    /// </summary>
    public void Run(Tensor a, bool transA, Tensor b, bool transB, Tensor c, float alpha, float beta, Tensor l, Tensor r, float lowScale)
    {
        var a2 = a.As2D();
        var c2 = c.As2D();
        int m = transA ? a2.Dim(1) : a2.Dim(0);
        int k = transA ? a2.Dim(0) : a2.Dim(1);
        int n = transB ? b.Dim(0) : b.Dim(1);
        if (m == 0 || n == 0) return;
        var lowRank = 0;
        if (!l.IsEmpty)
        {
            var l2 = l.As2D();
            lowRank = l2.Dim(1);
            if (k == 0 || lowRank > KcMax)
            {
                Run(a, transA, b, transB, c, alpha, beta);
                Run(l, false, r, false, c, lowScale, 1f);
                return;
            }
        }
        if (k == 0)
        {
            ScaleC(c2.Ptr<float>(), (long)m * n, beta);
            return;
        }

        var threads = _pool.Threads;
        var job = new Job
        {
            A = a2.Ptr<float>(), B = (void*)b.Data, C = c2.Ptr<float>(),
            M = m, N = n, K = k,
            Lda = a2.Dim(1), Ldb = b.Dim(1), Ldc = n,
            TransA = transA, TransB = transB, BType = b.DType,
            Alpha = alpha, Beta = beta, NR = _nr,
            L = lowRank > 0 ? l.Ptr<float>() : null, R = lowRank > 0 ? r.Ptr<float>() : null, LowRank = lowRank, LowScale = lowScale,
        };
        var packA = stackalloc float*[threads];
        var packB = stackalloc float*[threads];
        for (var i = 0; i < threads; i++)
        {
            packA[i] = (float*)_packA[i].Pointer;
            packB[i] = (float*)_packB[i].Pointer;
        }
        job.PackA = packA;
        job.PackB = packB;

        var kBlocks = (k + KcMax - 1) / KcMax;
        job.KcEven = (k + kBlocks - 1) / kBlocks;

        var panels = (n + _nr - 1) / _nr;
        var units = (m + MR - 1) / MR;
        int colBlocks, rowBlocks;
        if (threads > 1 && units <= SmallMUnits)
        {
            // A few rows (LoRA's rank-sized side): B is read in place, so split the columns finely, each thread
            // reading its own part of B once.
            colBlocks = Math.Max(Math.Min(panels, 3 * threads), (panels * _nr + NcMax - 1) / NcMax);
            rowBlocks = 1;
        }
        else (rowBlocks, colBlocks) = ChooseGrid(units, panels, _nr, threads, transA);
        job.PanelsPerCol = (panels + colBlocks - 1) / colBlocks;
        colBlocks = (panels + job.PanelsPerCol - 1) / job.PanelsPerCol;
        job.ColBlocks = colBlocks;
        var rowStart = stackalloc int[rowBlocks + 1];
        for (var i = 0; i <= rowBlocks; i++) rowStart[i] = Math.Min(m, (int)((long)units * i / rowBlocks) * MR);
        job.RowStart = rowStart;
        job.RowBlocks = rowBlocks;

        _pool.For(rowBlocks * colBlocks, &TileItem, &job);
    }

    // Below two tiles per thread, a thread that the OS or hypervisor stalls leaves its tile to nobody: such grids must
    // save more than this fraction of work to be chosen.
    private const double SingleTilePenalty = 0.04;

    // What packing one float costs, in multiply-adds of the micro-kernel: a load and a store against 32 FMA lanes a cycle.
    private const int PackCostInFlops = 16;

    /// <summary>
    /// The tile grid: row blocks of whole MR units × column blocks of whole NR panels (at most NcMax wide, the packed-B
    /// buffer). Every tile packs its own slice of B (K × its columns) and of A (its rows × K), so more row blocks
    /// repack B and more column blocks repack A. The grid with the least work on the busiest thread (its tiles'
    /// multiply-adds plus their packing) wins; ties go to more tiles, which balance better when a core is shared.
    /// </summary>
    private static (int RowBlocks, int ColBlocks) ChooseGrid(int units, int panels, int nr, int threads, bool transA)
    {
        var minCols = (panels * nr + NcMax - 1) / NcMax;
        var maxTiles = Math.Max(4 * threads, 1);
        (int, int) best = (1, minCols);
        var bestCost = double.MaxValue;
        for (var c = minCols; c <= Math.Min(panels, maxTiles); c++)
        {
            var perCol = (panels + c - 1) / c;
            if ((panels + perCol - 1) / perCol != c) continue; // the same split as a smaller c
            var cols = (double)perCol * nr;
            var aPacked = !ReadsAInPlace(nr, transA, perCol);
            for (var r = 1; r <= Math.Min(units, maxTiles / c); r++)
            {
                var rows = (double)((units + r - 1) / r) * MR;
                var waves = (r * c + threads - 1) / threads;
                var cost = waves * (2 * rows * cols + PackCostInFlops * (cols + (aPacked ? rows : 0)));
                if (r * c < 2 * threads) cost *= 1 + SingleTilePenalty;
                if (cost <= bestCost * 0.999)
                {
                    bestCost = cost;
                    best = (r, c);
                }
                else if (cost <= bestCost * 1.001 && r * c > best.Item1 * best.Item2) best = (r, c);
            }
        }
        return best;
    }

    /// <summary>
    /// Whether a tile reads A where it lies instead of packing it (with the strided 6×32 kernel): always for Aᵀ, whose
    /// six rows of a micro-tile are six adjacent floats of each row of A (the packed panel's own layout, one row
    /// stride apart); and for a tile one panel wide, where a packed block would be used once.
    /// </summary>
    private static bool ReadsAInPlace(int nr, bool transA, int panels) => nr == 32 && (transA || panels == 1);

    private static void ScaleC(float* c, long count, float beta)
    {
        for (long i = 0; i < count; i++) c[i] = beta == 0 ? 0 : beta * c[i];
    }

    private static void TileItem(int item, int thread, void* context)
    {
        ref var job = ref *(Job*)context;
        var colBlock = item % job.ColBlocks;
        var rowBlock = item / job.ColBlocks;
        var i0 = job.RowStart[rowBlock];
        var i1 = job.RowStart[rowBlock + 1];
        if (i1 <= i0) return;
        var nr = job.NR;
        var j0 = colBlock * job.PanelsPerCol * nr;
        if (j0 >= job.N) return;
        var j1 = Math.Min(job.N, j0 + job.PanelsPerCol * nr);
        var tile = stackalloc float[MR * 32];
        for (var pc = 0; pc < job.K; pc += job.KcEven)
            DepthBlock(ref job, new Block { Pc = pc, Kc = Math.Min(job.KcEven, job.K - pc) }, pc == 0 ? job.Beta : 1f, job.Alpha,
                i0, i1, j0, j1, thread, tile);
        if (job.LowRank > 0)
        {
            var low = job;
            low.A = job.L;
            low.B = job.R;
            low.TransA = false;
            low.TransB = false;
            low.BType = DType.F32;
            low.K = job.LowRank;
            low.Lda = job.LowRank;
            low.Ldb = job.N;
            DepthBlock(ref low, new Block { Pc = 0, Kc = job.LowRank }, 1f, job.LowScale, i0, i1, j0, j1, thread, tile);
        }
    }

    /// <summary>
    /// One depth block [Pc, Pc + Kc) of the tile rows [i0, i1) × columns [j0, j1): C = alpha · A_blk · B_blk + beta · C.
    /// A is read in place (no packing) when <see cref="ReadsAInPlace"/>; B (plain F32) is read in place when the tile
    /// has only a few rows, since a packed panel would serve one or two micro-tiles. Either way every C element sums
    /// over k in the same order, so the results do not depend on the path.
    /// </summary>
    private static void DepthBlock(ref Job job, in Block blk, float betaEff, float alpha, int i0, int i1, int j0, int j1, int thread, float* tile)
    {
        var nr = job.NR;
        var kc = blk.Kc;
        var pc = blk.Pc;
        var panels = (j1 - j0 + nr - 1) / nr;
        var packA = job.PackA[thread];
        var packB = job.PackB[thread];
        var strided = nr == 32;
        var directA = ReadsAInPlace(nr, job.TransA, panels);
        var directB = strided && !job.TransB && job.BType == DType.F32 && i1 - i0 <= SmallMUnits * MR;
        if (!job.TransB && !directB) PackBRows(ref job, blk, packB, j0, j1);
        else
            for (var p = 0; p < panels; p++)
            {
                var pj = j0 + p * nr;
                var cols = Math.Min(nr, j1 - pj);
                if (!directB || cols < nr) PackBPanel(ref job, blk, packB + (long)p * nr * kc, pj, cols);
            }
        for (var ic = i0; ic < i1; ic += McMax)
        {
            var rowsBlock = Math.Min(McMax, i1 - ic);
            if (!directA) PackABlock(ref job, blk, packA, ic, rowsBlock);
            for (var p = 0; p < panels; p++)
            {
                var pj = j0 + p * nr;
                var cols = Math.Min(nr, j1 - pj);
                float* bPanel;
                long ldb;
                if (directB && cols == nr)
                {
                    bPanel = (float*)job.B + (long)pc * job.Ldb + pj;
                    ldb = job.Ldb;
                }
                else
                {
                    bPanel = packB + (long)p * nr * kc;
                    ldb = nr;
                }
                for (var i = 0; i < rowsBlock; i += MR)
                {
                    var rows = Math.Min(MR, rowsBlock - i);
                    var cPtr = job.C + (long)(ic + i) * job.Ldc + pj;
                    var full = rows == MR && cols == nr;
                    var dst = full ? cPtr : tile;
                    long ldd = full ? job.Ldc : nr;
                    float a2 = full ? alpha : 1f, b2 = full ? betaEff : 0f;
                    if (directA || directB)
                    {
                        // A element (r, k) at aBase[r * aRow + k * aK]; rows past the end repeat the last one (discarded)
                        float* aBase;
                        long aRow, aK;
                        if (directA && job.TransA)
                        {
                            aBase = job.A + (long)pc * job.Lda + ic + i;
                            aRow = 1;
                            aK = job.Lda;
                        }
                        else if (directA)
                        {
                            aBase = job.A + (long)(ic + i) * job.Lda + pc;
                            aRow = job.Lda;
                            aK = 1;
                        }
                        else
                        {
                            aBase = packA + (long)i * kc;
                            aRow = 1;
                            aK = MR;
                        }
                        var lastRow = directA ? rows - 1 : MR - 1;
                        if (cols <= 16) KernelStrided6x16(kc, aBase, aRow, aK, lastRow, bPanel, ldb, dst, ldd, a2, b2);
                        else KernelStrided6x32(kc, aBase, aRow, aK, lastRow, bPanel, ldb, dst, ldd, a2, b2);
                    }
                    else
                    {
                        var aPanel = packA + (long)i * kc;
                        // packed panels are the strided layout with A at (1, MR) and B at NR
                        if (nr == 32) KernelStrided6x32(kc, aPanel, 1, MR, MR - 1, bPanel, nr, dst, ldd, a2, b2);
                        else Kernel6x16(kc, aPanel, bPanel, dst, ldd, a2, b2);
                    }
                    if (!full)
                    {
                        for (var r = 0; r < rows; r++)
                        {
                            var cr = cPtr + (long)r * job.Ldc;
                            var tr = tile + r * nr;
                            for (var c = 0; c < cols; c++)
                                cr[c] = betaEff == 0f ? alpha * tr[c] : MathF.FusedMultiplyAdd(betaEff, cr[c], alpha * tr[c]);
                        }
                    }
                }
            }
        }
    }

    /// <summary>
    /// All panels of op(B) = B [K, N] for columns [j0, j1), walking B row by row: each k row of the tile is one
    /// contiguous run that the hardware prefetcher streams, where panel by panel it would be a column strip of short
    /// runs one row stride apart.
    /// </summary>
    private static void PackBRows(ref Job job, in Block blk, float* dst, int j0, int j1)
    {
        var nr = job.NR;
        var kc = blk.Kc;
        var panelSize = (long)nr * kc;
        for (var k = 0; k < kc; k++)
        {
            var row = (long)(blk.Pc + k) * job.Ldb;
            for (var pj = j0; pj < j1; pj += nr)
            {
                var cols = Math.Min(nr, j1 - pj);
                var d = dst + (pj - j0) / nr * panelSize + (long)k * nr;
                switch (job.BType)
                {
                    case DType.F32:
                        WidenRow((float*)job.B + row + pj, d, cols);
                        break;
                    case DType.BF16:
                        WidenBf16Row((ushort*)job.B + row + pj, d, cols);
                        break;
                    default:
                        for (var c = 0; c < cols; c++) d[c] = HalfConvert.F16ToFloat(((ushort*)job.B)[row + pj + c]);
                        break;
                }
                for (var c = cols; c < nr; c++) d[c] = 0;
            }
        }
    }

    // Packed B panel: Kc rows of NR floats; element (k, c) = op(B)[pc + k, j0 + c], zero beyond the last column.
    private static void PackBPanel(ref Job job, in Block blk, float* dst, int j0, int cols)
    {
        var nr = job.NR;
        var kc = blk.Kc;
        var pc = blk.Pc;
        long ldb = job.Ldb;
        if (!job.TransB)
        {
            // op(B) = B [K, N]: each k row of the panel is a contiguous run of B
            PackBRows(ref job, blk, dst, j0, j0 + cols);
            return;
        }
        // op(B) = Bᵀ with B [N, K]: column c of the panel is a contiguous run of row j0 + c of B.
        var done = 0;
        if (Avx2.IsSupported && job.BType != DType.F16 && cols % 8 == 0 && kc >= 8)
        {
            // 8×8 blocks transposed in registers; the k tail below finishes the panel
            done = kc / 8 * 8;
            for (var c8 = 0; c8 < cols; c8 += 8)
                for (var k8 = 0; k8 < done; k8 += 8)
                    Transpose8x8(ref job, (long)(j0 + c8) * ldb + pc + k8, ldb, dst + (long)k8 * nr + c8, nr);
        }
        for (var c = 0; c < cols; c++)
        {
            var src = (long)(j0 + c) * ldb + pc;
            var d = dst + c;
            switch (job.BType)
            {
                case DType.F32:
                {
                    var s = (float*)job.B + src;
                    for (var k = done; k < kc; k++) d[(long)k * nr] = s[k];
                    break;
                }
                case DType.BF16:
                {
                    var s = (ushort*)job.B + src;
                    for (var k = done; k < kc; k++) d[(long)k * nr] = BitConverter.Int32BitsToSingle(s[k] << 16);
                    break;
                }
                default:
                {
                    var s = (ushort*)job.B + src;
                    for (var k = done; k < kc; k++) d[(long)k * nr] = HalfConvert.F16ToFloat(s[k]);
                    break;
                }
            }
        }
        for (var c = cols; c < nr; c++)
            for (var k = 0; k < kc; k++) dst[(long)k * nr + c] = 0;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> LoadRow8(ref Job job, long offset) =>
        job.BType == DType.F32
            ? Avx.LoadVector256((float*)job.B + offset)
            : Avx2.ShiftLeftLogical(Avx2.ConvertToVector256Int32(Sse2.LoadVector128((ushort*)job.B + offset)), 16).AsSingle();

    /// <summary>dst[k * ldd + c] = B[offset + c * ldb + k] for an 8×8 block (F32, or BF16 widened).</summary>
    private static void Transpose8x8(ref Job job, long offset, long ldb, float* dst, int ldd) =>
        SimdOps.StoreTransposed8x8(LoadRow8(ref job, offset), LoadRow8(ref job, offset + ldb), LoadRow8(ref job, offset + 2 * ldb),
            LoadRow8(ref job, offset + 3 * ldb), LoadRow8(ref job, offset + 4 * ldb), LoadRow8(ref job, offset + 5 * ldb),
            LoadRow8(ref job, offset + 6 * ldb), LoadRow8(ref job, offset + 7 * ldb), dst, ldd);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void WidenRow(float* src, float* dst, int count)
    {
        var i = 0;
        if (Vector256.IsHardwareAccelerated)
            for (; i + 8 <= count; i += 8) Vector256.Store(Vector256.Load(src + i), dst + i);
        for (; i < count; i++) dst[i] = src[i];
    }

    private static void WidenBf16Row(ushort* src, float* dst, int count)
    {
        var i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            for (; i + 16 <= count; i += 16)
            {
                var v = Vector256.Load(src + i);
                var (lo, hi) = Vector256.Widen(v);
                Vector256.Store(Vector256.ShiftLeft(lo, 16).AsSingle(), dst + i);
                Vector256.Store(Vector256.ShiftLeft(hi, 16).AsSingle(), dst + i + 8);
            }
        }
        for (; i < count; i++) dst[i] = BitConverter.Int32BitsToSingle(src[i] << 16);
    }

    // Packed A block: panels of MR rows; panel element (k, r) = op(A)[i0 + r, pc + k], zero beyond the last row.
    private static void PackABlock(ref Job job, in Block blk, float* dst, int i0, int rows)
    {
        var kc = blk.Kc;
        var pc = blk.Pc;
        long lda = job.Lda;
        if (job.TransA)
        {
            PackATransposed(ref job, blk, dst, i0, rows);
            return;
        }
        for (var r0 = 0; r0 < rows; r0 += MR)
        {
            var d = dst + (long)r0 * kc;
            var mr = Math.Min(MR, rows - r0);
            if (mr == MR)
            {
                // six row streams read in step, the panel written sequentially
                var s0 = job.A + (long)(i0 + r0) * lda + pc;
                var s1 = s0 + lda;
                var s2 = s1 + lda;
                var s3 = s2 + lda;
                var s4 = s3 + lda;
                var s5 = s4 + lda;
                for (var k = 0; k < kc; k++)
                {
                    var dk = d + k * MR;
                    dk[0] = s0[k]; dk[1] = s1[k]; dk[2] = s2[k];
                    dk[3] = s3[k]; dk[4] = s4[k]; dk[5] = s5[k];
                }
            }
            else
            {
                for (var r = 0; r < mr; r++)
                {
                    var s = job.A + (long)(i0 + r0 + r) * lda + pc;
                    for (var k = 0; k < kc; k++) d[k * MR + r] = s[k];
                }
            }
            if (mr < MR)
                for (var k = 0; k < kc; k++)
                    for (var r = mr; r < MR; r++) d[k * MR + r] = 0;
        }
    }

    /// <summary>
    /// Packed A block from A [K, M] (op(A) = Aᵀ), walking A row by row for the same reason as <see cref="PackBRows"/>:
    /// row k of A holds column k of every panel, six floats each.
    /// </summary>
    private static void PackATransposed(ref Job job, in Block blk, float* dst, int i0, int rows)
    {
        var kc = blk.Kc;
        var fullPanels = rows / MR;
        var tail = rows - fullPanels * MR;
        for (var k = 0; k < kc; k++)
        {
            var s = job.A + (long)(blk.Pc + k) * job.Lda + i0;
            var d = dst + (long)k * MR;
            var p = 0;
            if (Vector256.IsHardwareAccelerated && k < kc - 1)
            {
                // eight floats stored for six: the two extra land in slot k + 1 of the same panel, written next; row
                // k + 1 of A exists, so reading two past this row's block stays inside A
                for (; p < fullPanels; p++)
                {
                    Vector256.Store(Vector256.Load(s), d);
                    s += MR;
                    d += (long)MR * kc;
                }
            }
            for (; p < fullPanels; p++)
            {
                d[0] = s[0]; d[1] = s[1]; d[2] = s[2];
                d[3] = s[3]; d[4] = s[4]; d[5] = s[5];
                s += MR;
                d += (long)MR * kc;
            }
            if (tail > 0)
            {
                for (var r = 0; r < tail; r++) d[r] = s[r];
                for (var r = tail; r < MR; r++) d[r] = 0;
            }
        }
    }

    /// <summary>
    /// The 6×32 micro-kernel: A element (r, k) at a[min(r, lastRow) · aRow + k · aK], B row k at b + k · ldb. Packed
    /// panels are one case of this layout; unpacked operands another, where packing would cost as much as the product
    /// (LoRA's skinny GEMMs).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void KernelStrided6x32(int kc, float* a, long aRow, long aK, int lastRow, float* b, long ldb, float* c, long ldc, float alpha, float beta)
    {
        long o1 = Math.Min(1, lastRow) * aRow, o2 = Math.Min(2, lastRow) * aRow, o3 = Math.Min(3, lastRow) * aRow;
        long o4 = Math.Min(4, lastRow) * aRow, o5 = Math.Min(5, lastRow) * aRow;
        Vector512<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default;
        Vector512<float> c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
        for (var k = 0; k < kc; k++)
        {
            var b0 = Vector512.Load(b);
            var b1 = Vector512.Load(b + 16);
            var a0 = Vector512.Create(a[0]);
            c00 = Vector512.FusedMultiplyAdd(a0, b0, c00);
            c01 = Vector512.FusedMultiplyAdd(a0, b1, c01);
            var a1 = Vector512.Create(a[o1]);
            c10 = Vector512.FusedMultiplyAdd(a1, b0, c10);
            c11 = Vector512.FusedMultiplyAdd(a1, b1, c11);
            var a2 = Vector512.Create(a[o2]);
            c20 = Vector512.FusedMultiplyAdd(a2, b0, c20);
            c21 = Vector512.FusedMultiplyAdd(a2, b1, c21);
            var a3 = Vector512.Create(a[o3]);
            c30 = Vector512.FusedMultiplyAdd(a3, b0, c30);
            c31 = Vector512.FusedMultiplyAdd(a3, b1, c31);
            var a4 = Vector512.Create(a[o4]);
            c40 = Vector512.FusedMultiplyAdd(a4, b0, c40);
            c41 = Vector512.FusedMultiplyAdd(a4, b1, c41);
            var a5 = Vector512.Create(a[o5]);
            c50 = Vector512.FusedMultiplyAdd(a5, b0, c50);
            c51 = Vector512.FusedMultiplyAdd(a5, b1, c51);
            a += aK;
            b += ldb;
        }
        Store512(c, c00, c01, alpha, beta);
        Store512(c + ldc, c10, c11, alpha, beta);
        Store512(c + 2 * ldc, c20, c21, alpha, beta);
        Store512(c + 3 * ldc, c30, c31, alpha, beta);
        Store512(c + 4 * ldc, c40, c41, alpha, beta);
        Store512(c + 5 * ldc, c50, c51, alpha, beta);
    }

    /// <summary>The 16-column half of <see cref="KernelStrided6x32"/>, for panels of at most 16 columns (rank-wide outputs).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void KernelStrided6x16(int kc, float* a, long aRow, long aK, int lastRow, float* b, long ldb, float* c, long ldc, float alpha, float beta)
    {
        long o1 = Math.Min(1, lastRow) * aRow, o2 = Math.Min(2, lastRow) * aRow, o3 = Math.Min(3, lastRow) * aRow;
        long o4 = Math.Min(4, lastRow) * aRow, o5 = Math.Min(5, lastRow) * aRow;
        Vector512<float> c0 = default, c1 = default, c2 = default, c3 = default, c4 = default, c5 = default;
        for (var k = 0; k < kc; k++)
        {
            var b0 = Vector512.Load(b);
            c0 = Vector512.FusedMultiplyAdd(Vector512.Create(a[0]), b0, c0);
            c1 = Vector512.FusedMultiplyAdd(Vector512.Create(a[o1]), b0, c1);
            c2 = Vector512.FusedMultiplyAdd(Vector512.Create(a[o2]), b0, c2);
            c3 = Vector512.FusedMultiplyAdd(Vector512.Create(a[o3]), b0, c3);
            c4 = Vector512.FusedMultiplyAdd(Vector512.Create(a[o4]), b0, c4);
            c5 = Vector512.FusedMultiplyAdd(Vector512.Create(a[o5]), b0, c5);
            a += aK;
            b += ldb;
        }
        Store16(c, c0, alpha, beta);
        Store16(c + ldc, c1, alpha, beta);
        Store16(c + 2 * ldc, c2, alpha, beta);
        Store16(c + 3 * ldc, c3, alpha, beta);
        Store16(c + 4 * ldc, c4, alpha, beta);
        Store16(c + 5 * ldc, c5, alpha, beta);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store16(float* c, Vector512<float> v, float alpha, float beta)
    {
        v *= Vector512.Create(alpha);
        if (beta != 0f) v = Vector512.FusedMultiplyAdd(Vector512.Create(beta), Vector512.Load(c), v);
        Vector512.Store(v, c);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store512(float* c, Vector512<float> v0, Vector512<float> v1, float alpha, float beta)
    {
        var va = Vector512.Create(alpha);
        v0 *= va;
        v1 *= va;
        if (beta != 0f)
        {
            var vb = Vector512.Create(beta);
            v0 = Vector512.FusedMultiplyAdd(vb, Vector512.Load(c), v0);
            v1 = Vector512.FusedMultiplyAdd(vb, Vector512.Load(c + 16), v1);
        }
        Vector512.Store(v0, c);
        Vector512.Store(v1, c + 16);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Kernel6x16(int kc, float* a, float* b, float* c, long ldc, float alpha, float beta)
    {
        Vector256<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default;
        Vector256<float> c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
        for (var k = 0; k < kc; k++)
        {
            var b0 = Vector256.Load(b);
            var b1 = Vector256.Load(b + 8);
            var a0 = Vector256.Create(a[0]);
            c00 = Vector256.FusedMultiplyAdd(a0, b0, c00);
            c01 = Vector256.FusedMultiplyAdd(a0, b1, c01);
            var a1 = Vector256.Create(a[1]);
            c10 = Vector256.FusedMultiplyAdd(a1, b0, c10);
            c11 = Vector256.FusedMultiplyAdd(a1, b1, c11);
            var a2 = Vector256.Create(a[2]);
            c20 = Vector256.FusedMultiplyAdd(a2, b0, c20);
            c21 = Vector256.FusedMultiplyAdd(a2, b1, c21);
            var a3 = Vector256.Create(a[3]);
            c30 = Vector256.FusedMultiplyAdd(a3, b0, c30);
            c31 = Vector256.FusedMultiplyAdd(a3, b1, c31);
            var a4 = Vector256.Create(a[4]);
            c40 = Vector256.FusedMultiplyAdd(a4, b0, c40);
            c41 = Vector256.FusedMultiplyAdd(a4, b1, c41);
            var a5 = Vector256.Create(a[5]);
            c50 = Vector256.FusedMultiplyAdd(a5, b0, c50);
            c51 = Vector256.FusedMultiplyAdd(a5, b1, c51);
            a += MR;
            b += 16;
        }
        Store256(c, c00, c01, alpha, beta);
        Store256(c + ldc, c10, c11, alpha, beta);
        Store256(c + 2 * ldc, c20, c21, alpha, beta);
        Store256(c + 3 * ldc, c30, c31, alpha, beta);
        Store256(c + 4 * ldc, c40, c41, alpha, beta);
        Store256(c + 5 * ldc, c50, c51, alpha, beta);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store256(float* c, Vector256<float> v0, Vector256<float> v1, float alpha, float beta)
    {
        var va = Vector256.Create(alpha);
        v0 *= va;
        v1 *= va;
        if (beta != 0f)
        {
            var vb = Vector256.Create(beta);
            v0 = Vector256.FusedMultiplyAdd(vb, Vector256.Load(c), v0);
            v1 = Vector256.FusedMultiplyAdd(vb, Vector256.Load(c + 8), v1);
        }
        Vector256.Store(v0, c);
        Vector256.Store(v1, c + 8);
    }

    public void Dispose()
    {
        foreach (var p in _packB) p.Dispose();
        foreach (var p in _packA) p.Dispose();
    }
}
