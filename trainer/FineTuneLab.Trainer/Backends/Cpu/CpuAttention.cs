using System.Runtime.Intrinsics.X86;
using FineTuneLab.Trainer.Tensors;
using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;
using static FineTuneLab.Trainer.Backends.Cpu.AttentionTiles;

namespace FineTuneLab.Trainer.Backends.Cpu;

/// <summary>
/// Causal grouped-query attention in FlashAttention-2's tiled form: groups of 4 query rows walk the visible keys in
/// blocks of 64 with an online softmax, so only the output and each row's log-sum-exp are kept. The backward
/// recomputes probabilities in two passes — query groups for dQ, key groups (over every query head of the kv head)
/// for dK/dV — so no two work items write the same memory and results do not depend on the thread count.
/// K and V (and, for the backward, Q and dO) are first transposed into scratch so score tiles vectorize over keys.
/// </summary>
internal static unsafe class CpuAttention
{
    private const int QueryBlock = 16;

    private struct Dims
    {
        public int B, Tq, Tk, Hq, Hkv, D, Group, Window, Offset, TqPad, TkPad;
        public float Scale;
        public int* Seg;
        /// <summary>Where the run of equal segment ids around each token starts and ends (exclusive), [B, Tk]; null without segments.</summary>
        public int* SegStart, SegEnd;

        public readonly float* QRow(float* q, int b, int i, int h) => q + (((long)b * Tq + i) * Hq + h) * D;
        public readonly float* KRow(float* k, int b, int j, int h) => k + (((long)b * Tk + j) * Hkv + h) * D;
        public readonly long QStride => (long)Hq * D;
        public readonly long KStride => (long)Hkv * D;
        /// <summary>Transposed [D, Pad] plane of head h of batch b in a [B, H, D, Pad] scratch.</summary>
        public readonly float* Plane(float* t, int b, int h, int heads, int pad) => t + ((long)b * heads + h) * D * pad;

        public readonly int FirstKey(int b, int p)
        {
            var first = Window > 0 ? Math.Max(0, p - Window + 1) : 0;
            return SegStart == null ? first : Math.Max(first, SegStart[(long)b * Tk + p]);
        }

        /// <summary>Whether keys in [FirstKey, p] all share p's segment (no segments, or ids in non-decreasing runs).</summary>
        public readonly bool RangeImpliesSegment => Seg == null || SegStart != null;

        /// <summary>Visibility of key j to position p given lo = FirstKey(b, p).</summary>
        public readonly bool Visible(int b, int p, int lo, int j) =>
            j >= lo && j <= p && (RangeImpliesSegment || Seg[(long)b * Tk + j] == Seg[(long)b * Tk + p]);

        /// <summary>One past the last absolute position that may see key j.</summary>
        public readonly int LastViewer(int b, int j)
        {
            var end = Window > 0 ? Math.Min(Tk, j + Window) : Tk;
            return SegEnd == null ? end : Math.Min(end, SegEnd[(long)b * Tk + j]);
        }
    }

    private static Dims Measure(Tensor q, Tensor k, Tensor v, Tensor seg, float scale, int window, ScratchPool scratch)
    {
        var d = new Dims { B = q.Dim(0), Tq = q.Dim(1), Hq = q.Dim(2), D = q.Dim(3), Tk = k.Dim(1), Hkv = k.Dim(2), Scale = scale, Window = window };
        d.Group = d.Hq / d.Hkv;
        d.Offset = d.Tk - d.Tq;
        d.TqPad = (d.Tq + 7) / 8 * 8;
        d.TkPad = (d.Tk + 7) / 8 * 8;
        if (!seg.IsEmpty)
        {
            d.Seg = seg.Ptr<int>();
            FindSegmentRuns(ref d, scratch);
        }
        return d;
    }

    /// <summary>
    /// With non-decreasing segment ids per row (how packing numbers documents), a token sees only keys of its own run,
    /// so the kernels may skip everything outside it. Other id layouts stay correct through the per-key check alone.
    /// </summary>
    private static void FindSegmentRuns(ref Dims d, ScratchPool scratch)
    {
        for (var b = 0; b < d.B; b++)
        {
            var row = d.Seg + (long)b * d.Tk;
            for (var t = 1; t < d.Tk; t++)
                if (row[t] < row[t - 1]) return;
        }
        var runs = scratch.SharedInts(2L * d.B * d.Tk);
        d.SegStart = runs;
        d.SegEnd = runs + (long)d.B * d.Tk;
        for (var b = 0; b < d.B; b++)
        {
            var o = (long)b * d.Tk;
            for (var t = 0; t < d.Tk; t++)
                d.SegStart[o + t] = t > 0 && d.Seg[o + t] == d.Seg[o + t - 1] ? d.SegStart[o + t - 1] : t;
            for (var t = d.Tk - 1; t >= 0; t--)
                d.SegEnd[o + t] = t < d.Tk - 1 && d.Seg[o + t] == d.Seg[o + t + 1] ? d.SegEnd[o + t + 1] : t + 1;
        }
    }

    /// <summary>dst[b, h, d, t] = src[b, t, h, d], zero for t in [T, Pad).</summary>
    private struct Transpose : IParallelBody
    {
        public float* Src, Dst; public int T, H, D, Pad;
        public void Execute(int item, int thread)
        {
            var b = item / H;
            var h = item % H;
            var plane = Dst + (long)item * D * Pad;
            var stride = (long)H * D;
            var src = Src + ((long)b * T * H + h) * D;
            var t = 0;
            if (Avx.IsSupported && D % 8 == 0)
            {
                // 8×8 blocks transposed in registers: eight rows read along d, written as eight runs along t
                for (; t + 8 <= T; t += 8)
                {
                    var s = src + t * stride;
                    for (var d = 0; d < D; d += 8)
                        SimdOps.StoreTransposed8x8(Avx.LoadVector256(s + d), Avx.LoadVector256(s + stride + d),
                            Avx.LoadVector256(s + 2 * stride + d), Avx.LoadVector256(s + 3 * stride + d),
                            Avx.LoadVector256(s + 4 * stride + d), Avx.LoadVector256(s + 5 * stride + d),
                            Avx.LoadVector256(s + 6 * stride + d), Avx.LoadVector256(s + 7 * stride + d), plane + (long)d * Pad + t, Pad);
                }
            }
            for (; t < T; t++)
            {
                var s = src + t * stride;
                for (var d = 0; d < D; d++) plane[(long)d * Pad + t] = s[d];
            }
            for (var d = 0; d < D; d++)
                for (var p = T; p < Pad; p++) plane[(long)d * Pad + p] = 0;
        }
    }

    private static void TransposeHeads(WorkerPool pool, float* src, float* dst, int b, int t, int h, int d, int pad)
    {
        var body = new Transpose { Src = src, Dst = dst, T = t, H = h, D = d, Pad = pad };
        pool.Run(b * h, ref body);
    }

    private static int Cols8(int n) => (n + 7) / 8 * 8;

    /// <summary>Sets row[c] = value for c outside [from, to) (clamped to [0, n)): the mask when visibility is one run.</summary>
    private static void MaskOutside(float* row, int n, int from, int to, float value)
    {
        var lo = Math.Clamp(from, 0, n);
        var hi = Math.Clamp(to, lo, n);
        new Span<float>(row, lo).Fill(value);
        new Span<float>(row + hi, n - hi).Fill(value);
    }

    private struct Forward : IParallelBody
    {
        public Dims Dm; public float* Q, KT, V, O, Lse; public void** Scratch;
        public void Execute(int item, int thread)
        {
            var d = Dm;
            var blocks = (d.Tq + QueryBlock - 1) / QueryBlock;
            var b = item / (d.Hq * blocks);
            var h = item / blocks % d.Hq;
            var qb = blocks - 1 - item % blocks; // the longest (latest) query blocks first, so no long item runs alone at the end
            var kvh = h / d.Group;
            var dim = d.D;
            var s = (float*)Scratch[thread];               // [Rows, Cols] scores, then probabilities
            var acc = s + Rows * Cols;                       // [Rows, D]
            var kt = d.Plane(KT, b, kvh, d.Hkv, d.TkPad);
            var vBase = d.KRow(V, b, 0, kvh);
            var m = stackalloc float[Rows];
            var l = stackalloc float[Rows];
            var end = Math.Min(d.Tq, (qb + 1) * QueryBlock);
            for (var i0 = qb * QueryBlock; i0 < end; i0 += Rows)
            {
                var nr = Math.Min(Rows, end - i0);
                var q0 = d.QRow(Q, b, i0, h);
                var stride = d.QStride;
                float* Row(int r) => q0 + Math.Min(r, nr - 1) * stride;
                for (var r = 0; r < Rows; r++) { m[r] = float.NegativeInfinity; l[r] = 0; }
                new Span<float>(acc, Rows * dim).Clear();
                var pFirst = d.Offset + i0;
                var pLast = pFirst + nr - 1;
                for (var jb = d.FirstKey(b, pFirst) & ~7; jb <= pLast; jb += Cols)
                {
                    var nc = Math.Min(Cols, pLast + 1 - jb);
                    Scores(Row(0), Row(1), Row(2), Row(3), kt + jb, d.TkPad, dim, Cols8(nc), s);
                    for (var r = 0; r < Rows; r++)
                    {
                        var sr = s + r * Cols;
                        if (r >= nr) { new Span<float>(sr, nc).Clear(); continue; }
                        var p = pFirst + r;
                        var lo = d.FirstKey(b, p);
                        if (!(jb >= lo && jb + nc - 1 <= p && d.RangeImpliesSegment))
                        {
                            if (d.RangeImpliesSegment) MaskOutside(sr, nc, lo - jb, p - jb + 1, float.NegativeInfinity);
                            else
                                for (var c = 0; c < nc; c++)
                                    if (!d.Visible(b, p, lo, jb + c)) sr[c] = float.NegativeInfinity;
                        }
                        var rowMax = AttentionRows.ScaleAndMax(sr, nc, d.Scale);
                        if (rowMax == float.NegativeInfinity) { new Span<float>(sr, nc).Clear(); continue; }
                        var mNew = Math.Max(m[r], rowMax);
                        var correction = MathF.Exp(m[r] - mNew);
                        if (correction != 1f)
                        {
                            l[r] *= correction;
                            SimdOps.Scale(acc + r * dim, correction, dim);
                        }
                        l[r] += SimdOps.ExpShiftedSum(sr, nc, mNew);
                        m[r] = mNew;
                    }
                    Accumulate(s, nc, vBase + jb * d.KStride, d.KStride, dim, acc);
                }
                for (var r = 0; r < nr; r++)
                {
                    var o = new Span<float>(d.QRow(O, b, i0 + r, h), dim);
                    var lseIndex = ((long)b * d.Hq + h) * d.Tq + i0 + r;
                    if (l[r] > 0)
                    {
                        TensorPrimitives.Multiply(new ReadOnlySpan<float>(acc + r * dim, dim), 1f / l[r], o);
                        Lse[lseIndex] = m[r] + MathF.Log(l[r]);
                    }
                    else
                    {
                        o.Clear();
                        Lse[lseIndex] = float.PositiveInfinity;
                    }
                }
            }
        }
    }

    public static void AttentionForward(WorkerPool pool, ScratchPool scratch, Tensor q, Tensor k, Tensor v, Tensor seg, float scale, int window, Tensor output, Tensor lse)
    {
        var d = Measure(q, k, v, seg, scale, window, scratch);
        var kt = (float*)scratch.Shared((long)d.B * d.Hkv * d.D * d.TkPad * sizeof(float));
        TransposeHeads(pool, k.Ptr<float>(), kt, d.B, d.Tk, d.Hkv, d.D, d.TkPad);
        scratch.ReservePerThread((Rows * Cols + Rows * d.D) * sizeof(float));
        var blocks = stackalloc void*[scratch.Threads];
        scratch.ThreadBlocks(blocks);
        var body = new Forward { Dm = d, Q = q.Ptr<float>(), KT = kt, V = v.Ptr<float>(), O = output.Ptr<float>(), Lse = lse.Ptr<float>(), Scratch = blocks };
        pool.Run(d.B * d.Hq * ((d.Tq + QueryBlock - 1) / QueryBlock), ref body);
    }

    /// <summary>Delta_i = dO_i · O_i per (b, h, i): the softmax backward's row term.</summary>
    private struct RowDelta : IParallelBody
    {
        public Dims Dm; public float* DO, O, Delta;
        public void Execute(int item, int thread)
        {
            var d = Dm;
            var b = item / d.Tq;
            var i = item % d.Tq;
            for (var h = 0; h < d.Hq; h++)
                Delta[((long)b * d.Hq + h) * d.Tq + i] = SimdOps.Dot(d.QRow(DO, b, i, h), d.QRow(O, b, i, h), d.D);
        }
    }

    private struct BackwardQ : IParallelBody
    {
        public Dims Dm; public float* Q, K, KT, VT, DO, Lse, Delta, DQ; public void** Scratch;
        public void Execute(int item, int thread)
        {
            var d = Dm;
            var blocks = (d.Tq + QueryBlock - 1) / QueryBlock;
            var b = item / (d.Hq * blocks);
            var h = item / blocks % d.Hq;
            var qb = blocks - 1 - item % blocks; // the longest (latest) query blocks first, so no long item runs alone at the end
            var kvh = h / d.Group;
            var dim = d.D;
            var s = (float*)Scratch[thread];   // P, then dS
            var dp = s + Rows * Cols;
            var acc = dp + Rows * Cols;
            var kt = d.Plane(KT, b, kvh, d.Hkv, d.TkPad);
            var vt = d.Plane(VT, b, kvh, d.Hkv, d.TkPad);
            var kBase = d.KRow(K, b, 0, kvh);
            var end = Math.Min(d.Tq, (qb + 1) * QueryBlock);
            for (var i0 = qb * QueryBlock; i0 < end; i0 += Rows)
            {
                var nr = Math.Min(Rows, end - i0);
                var stride = d.QStride;
                var q0 = d.QRow(Q, b, i0, h);
                var o0 = d.QRow(DO, b, i0, h);
                float* QR(int r) => q0 + Math.Min(r, nr - 1) * stride;
                float* OR(int r) => o0 + Math.Min(r, nr - 1) * stride;
                new Span<float>(acc, Rows * dim).Clear();
                var pFirst = d.Offset + i0;
                var pLast = pFirst + nr - 1;
                var rowBase = ((long)b * d.Hq + h) * d.Tq + i0;
                for (var jb = d.FirstKey(b, pFirst) & ~7; jb <= pLast; jb += Cols)
                {
                    var nc = Math.Min(Cols, pLast + 1 - jb);
                    Scores(QR(0), QR(1), QR(2), QR(3), kt + jb, d.TkPad, dim, Cols8(nc), s);
                    Scores(OR(0), OR(1), OR(2), OR(3), vt + jb, d.TkPad, dim, Cols8(nc), dp);
                    for (var r = 0; r < Rows; r++)
                    {
                        var sr = s + r * Cols;
                        if (r >= nr) { new Span<float>(sr, nc).Clear(); continue; }
                        var p = pFirst + r;
                        var lo = d.FirstKey(b, p);
                        AttentionRows.Probabilities(sr, nc, d.Scale, Lse[rowBase + r]);
                        if (!(jb >= lo && jb + nc - 1 <= p && d.RangeImpliesSegment))
                        {
                            if (d.RangeImpliesSegment) MaskOutside(sr, nc, lo - jb, p - jb + 1, 0f);
                            else
                                for (var c = 0; c < nc; c++)
                                    if (!d.Visible(b, p, lo, jb + c)) sr[c] = 0f;
                        }
                        AttentionRows.ScoreGradient(sr, dp + r * Cols, sr, nc, Delta[rowBase + r], d.Scale);
                    }
                    Accumulate(s, nc, kBase + jb * d.KStride, d.KStride, dim, acc);
                }
                for (var r = 0; r < nr; r++)
                    new ReadOnlySpan<float>(acc + r * dim, dim).CopyTo(new Span<float>(d.QRow(DQ, b, i0 + r, h), dim));
            }
        }
    }

    private struct BackwardKv : IParallelBody
    {
        public Dims Dm; public float* Q, K, V, QT, DOT, DO, Lse, Delta, DK, DV; public void** Scratch;
        public void Execute(int item, int thread)
        {
            var d = Dm;
            var blocks = (d.Tk + QueryBlock - 1) / QueryBlock;
            var b = item / (d.Hkv * blocks);
            var kvh = item / blocks % d.Hkv;
            var kb = item % blocks;
            var dim = d.D;
            var s = (float*)Scratch[thread];   // Pᵀ, then dSᵀ
            var dp = s + Rows * Cols;
            var accK = dp + Rows * Cols;
            var accV = accK + Rows * dim;
            var end = Math.Min(d.Tk, (kb + 1) * QueryBlock);
            for (var j0 = kb * QueryBlock; j0 < end; j0 += Rows)
            {
                var nr = Math.Min(Rows, end - j0);
                var stride = d.KStride;
                var k0 = d.KRow(K, b, j0, kvh);
                var v0 = d.KRow(V, b, j0, kvh);
                float* KR(int r) => k0 + Math.Min(r, nr - 1) * stride;
                float* VR(int r) => v0 + Math.Min(r, nr - 1) * stride;
                new Span<float>(accK, 2 * Rows * dim).Clear();
                var jLast = j0 + nr - 1;
                // queries that can see one of these keys: absolute position in [j0, jLast + window)
                var iFirst = Math.Max(0, j0 - d.Offset) & ~7;
                var iEnd = Math.Min(d.Tq, d.LastViewer(b, jLast) - d.Offset);
                for (var g = 0; g < d.Group; g++)
                {
                    var h = kvh * d.Group + g;
                    var qt = d.Plane(QT, b, h, d.Hq, d.TqPad);
                    var dot = d.Plane(DOT, b, h, d.Hq, d.TqPad);
                    var rowBase = ((long)b * d.Hq + h) * d.Tq;
                    for (var ib = iFirst; ib < iEnd; ib += Cols)
                    {
                        var nc = Math.Min(Cols, iEnd - ib);
                        Scores(KR(0), KR(1), KR(2), KR(3), qt + ib, d.TqPad, dim, Cols8(nc), s);
                        Scores(VR(0), VR(1), VR(2), VR(3), dot + ib, d.TqPad, dim, Cols8(nc), dp);
                        for (var r = 0; r < Rows; r++)
                        {
                            var sr = s + r * Cols;
                            var dpr = dp + r * Cols;
                            if (r >= nr)
                            {
                                new Span<float>(sr, nc).Clear();
                                new Span<float>(dpr, nc).Clear();
                                continue;
                            }
                            var j = j0 + r;
                            AttentionRows.Probabilities(sr, nc, d.Scale, Lse + rowBase + ib);
                            var pLo = d.Offset + ib;
                            if (!(pLo >= j && pLo + nc - 1 < d.LastViewer(b, j) && d.RangeImpliesSegment))
                            {
                                // with contiguous visibility, the queries that see key j are [j, LastViewer(j))
                                if (d.RangeImpliesSegment) MaskOutside(sr, nc, j - pLo, d.LastViewer(b, j) - pLo, 0f);
                                else
                                    for (var c = 0; c < nc; c++)
                                    {
                                        var p = pLo + c;
                                        if (!d.Visible(b, p, d.FirstKey(b, p), j)) sr[c] = 0f;
                                    }
                            }
                            AttentionRows.ScoreGradient(sr, dpr, dpr, nc, Delta + rowBase + ib, d.Scale);
                        }
                        Accumulate(s, nc, d.QRow(DO, b, ib, h), d.QStride, dim, accV);
                        Accumulate(dp, nc, d.QRow(Q, b, ib, h), d.QStride, dim, accK);
                    }
                }
                for (var r = 0; r < nr; r++)
                {
                    new ReadOnlySpan<float>(accK + r * dim, dim).CopyTo(new Span<float>(d.KRow(DK, b, j0 + r, kvh), dim));
                    new ReadOnlySpan<float>(accV + r * dim, dim).CopyTo(new Span<float>(d.KRow(DV, b, j0 + r, kvh), dim));
                }
            }
        }
    }

    public static void AttentionBackward(WorkerPool pool, ScratchPool scratch, Tensor dOut, Tensor q, Tensor k, Tensor v, Tensor seg, float scale, int window,
        Tensor output, Tensor lse, Tensor dQ, Tensor dK, Tensor dV)
    {
        var d = Measure(q, k, v, seg, scale, window, scratch);
        var kvPlane = (long)d.B * d.Hkv * d.D * d.TkPad;
        var qPlane = (long)d.B * d.Hq * d.D * d.TqPad;
        var deltaCount = (long)d.B * d.Hq * d.Tq;
        var shared = (float*)scratch.Shared((2 * kvPlane + 2 * qPlane + deltaCount) * sizeof(float));
        var kt = shared;
        var vt = kt + kvPlane;
        var qt = vt + kvPlane;
        var dot = qt + qPlane;
        var delta = dot + qPlane;
        TransposeHeads(pool, k.Ptr<float>(), kt, d.B, d.Tk, d.Hkv, d.D, d.TkPad);
        TransposeHeads(pool, v.Ptr<float>(), vt, d.B, d.Tk, d.Hkv, d.D, d.TkPad);
        TransposeHeads(pool, q.Ptr<float>(), qt, d.B, d.Tq, d.Hq, d.D, d.TqPad);
        TransposeHeads(pool, dOut.Ptr<float>(), dot, d.B, d.Tq, d.Hq, d.D, d.TqPad);
        var rd = new RowDelta { Dm = d, DO = dOut.Ptr<float>(), O = output.Ptr<float>(), Delta = delta };
        pool.Run(d.B * d.Tq, ref rd);

        scratch.ReservePerThread((2 * Rows * Cols + 2 * Rows * d.D) * sizeof(float));
        var blocks = stackalloc void*[scratch.Threads];
        scratch.ThreadBlocks(blocks);
        var bq = new BackwardQ
        {
            Dm = d, Q = q.Ptr<float>(), K = k.Ptr<float>(), KT = kt, VT = vt, DO = dOut.Ptr<float>(), Lse = lse.Ptr<float>(),
            Delta = delta, DQ = dQ.Ptr<float>(), Scratch = blocks,
        };
        pool.Run(d.B * d.Hq * ((d.Tq + QueryBlock - 1) / QueryBlock), ref bq);
        var bkv = new BackwardKv
        {
            Dm = d, Q = q.Ptr<float>(), K = k.Ptr<float>(), V = v.Ptr<float>(), QT = qt, DOT = dot, DO = dOut.Ptr<float>(),
            Lse = lse.Ptr<float>(), Delta = delta, DK = dK.Ptr<float>(), DV = dV.Ptr<float>(), Scratch = blocks,
        };
        pool.Run(d.B * d.Hkv * ((d.Tk + QueryBlock - 1) / QueryBlock), ref bkv);
    }
}
