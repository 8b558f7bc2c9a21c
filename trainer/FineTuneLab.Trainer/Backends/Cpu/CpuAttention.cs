using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;
using FineTuneLab.Trainer.Tensors;

namespace FineTuneLab.Trainer.Backends.Cpu;

/// <summary>
/// Causal grouped-query attention with an online softmax over key blocks (FlashAttention-2's recurrence, one query
/// row at a time): forward keeps only the output and each row's log-sum-exp; backward recomputes probabilities in two
/// passes, one over query blocks for dQ and one over key blocks for dK/dV, so no two items write the same memory.
/// </summary>
internal static unsafe class CpuAttention
{
    private const int QueryBlock = 16;
    private const int KeyBlock = 64;

    private struct Dims
    {
        public int B, Tq, Tk, Hq, Hkv, D, Group, Window, Offset;
        public float Scale;
        public int* Seg;

        public readonly float* QRow(float* q, int b, int i, int h) => q + (((long)b * Tq + i) * Hq + h) * D;
        public readonly float* KRow(float* k, int b, int j, int h) => k + (((long)b * Tk + j) * Hkv + h) * D;

        /// <summary>First key query row i (absolute position p) may see.</summary>
        public readonly int FirstKey(int p) => Window > 0 ? Math.Max(0, p - Window + 1) : 0;

        public readonly bool Visible(int b, int p, int j) => Seg == null || Seg[(long)b * Tk + j] == Seg[(long)b * Tk + p];
    }

    private static Dims Validate(Tensor q, Tensor k, Tensor v, Tensor seg, float scale, int window)
    {
        Check.F32(q, "attention q");
        Check.F32(k, "attention k");
        Check.F32(v, "attention v");
        if (q.Rank != 4 || k.Rank != 4 || v.Rank != 4)
            throw new ArgumentException($"attention q {q.Shape}, k {k.Shape}, v {v.Shape} must be [B, T, H, D]");
        if (k.Shape != v.Shape) throw new ArgumentException($"attention k {k.Shape} and v {v.Shape} differ");
        var d = new Dims { B = q.Dim(0), Tq = q.Dim(1), Hq = q.Dim(2), D = q.Dim(3), Tk = k.Dim(1), Hkv = k.Dim(2), Scale = scale, Window = window };
        if (k.Dim(0) != d.B || k.Dim(3) != d.D) throw new ArgumentException($"attention k {k.Shape} does not match q {q.Shape}");
        if (d.Hkv == 0 || d.Hq % d.Hkv != 0) throw new ArgumentException($"attention query heads {d.Hq} are not a multiple of kv heads {d.Hkv}");
        if (d.Tq > d.Tk) throw new ArgumentException($"attention has more queries ({d.Tq}) than keys ({d.Tk})");
        if (window < 0) throw new ArgumentOutOfRangeException(nameof(window), window, "sliding window must be >= 0");
        d.Group = d.Hq / d.Hkv;
        d.Offset = d.Tk - d.Tq;
        if (!seg.IsEmpty)
        {
            Check.I32(seg, "attention segment ids");
            if (seg.Count != (long)d.B * d.Tk) throw new ArgumentException($"attention segment ids {seg.Shape} must be [B={d.B}, Tk={d.Tk}]");
            d.Seg = seg.Ptr<int>();
        }
        return d;
    }

    private struct Forward : IParallelBody
    {
        public Dims Dm; public float* Q, K, V, O, Lse; public void** Scratch;
        public void Execute(int item, int thread)
        {
            var d = Dm;
            var blocks = (d.Tq + QueryBlock - 1) / QueryBlock;
            var b = item / (d.Hq * blocks);
            var h = item / blocks % d.Hq;
            var qb = item % blocks;
            var kvh = h / d.Group;
            var scores = (float*)Scratch[thread];
            var acc = scores + KeyBlock;
            var dim = d.D;
            var accSpan = new Span<float>(acc, dim);
            var end = Math.Min(d.Tq, (qb + 1) * QueryBlock);
            for (var i = qb * QueryBlock; i < end; i++)
            {
                var p = d.Offset + i;
                var q = new ReadOnlySpan<float>(d.QRow(Q, b, i, h), dim);
                var m = float.NegativeInfinity;
                var l = 0f;
                accSpan.Clear();
                for (var j0 = d.FirstKey(p); j0 <= p; j0 += KeyBlock)
                {
                    var j1 = Math.Min(p + 1, j0 + KeyBlock);
                    var blockMax = float.NegativeInfinity;
                    for (var j = j0; j < j1; j++)
                    {
                        var s = d.Visible(b, p, j)
                            ? d.Scale * TensorPrimitives.Dot(q, new ReadOnlySpan<float>(d.KRow(K, b, j, kvh), dim))
                            : float.NegativeInfinity;
                        scores[j - j0] = s;
                        if (s > blockMax) blockMax = s;
                    }
                    if (blockMax == float.NegativeInfinity) continue;
                    var mNew = Math.Max(m, blockMax);
                    var correction = MathF.Exp(m - mNew);
                    if (correction != 1f)
                    {
                        l *= correction;
                        TensorPrimitives.Multiply(accSpan, correction, accSpan);
                    }
                    for (var j = j0; j < j1; j++)
                    {
                        var s = scores[j - j0];
                        if (s == float.NegativeInfinity) continue;
                        var pj = MathF.Exp(s - mNew);
                        l += pj;
                        TensorPrimitives.MultiplyAdd(new ReadOnlySpan<float>(d.KRow(V, b, j, kvh), dim), pj, accSpan, accSpan);
                    }
                    m = mNew;
                }
                var o = new Span<float>(d.QRow(O, b, i, h), dim);
                if (l > 0)
                {
                    TensorPrimitives.Multiply(accSpan, 1f / l, o);
                    Lse[((long)b * d.Hq + h) * d.Tq + i] = m + MathF.Log(l);
                }
                else
                {
                    o.Clear();
                    Lse[((long)b * d.Hq + h) * d.Tq + i] = float.PositiveInfinity;
                }
            }
        }
    }

    public static void AttentionForward(WorkerPool pool, ScratchPool scratch, Tensor q, Tensor k, Tensor v, Tensor seg, float scale, int window, Tensor output, Tensor lse)
    {
        var d = Validate(q, k, v, seg, scale, window);
        Check.Same(q, output, "attention output");
        Check.Vector(lse, (long)d.B * d.Hq * d.Tq, "attention logsumexp");
        scratch.ReservePerThread((KeyBlock + d.D) * sizeof(float));
        var blocks = stackalloc void*[scratch.Threads];
        scratch.ThreadBlocks(blocks);
        var body = new Forward { Dm = d, Q = q.Ptr<float>(), K = k.Ptr<float>(), V = v.Ptr<float>(), O = output.Ptr<float>(), Lse = lse.Ptr<float>(), Scratch = blocks };
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
                Delta[((long)b * d.Hq + h) * d.Tq + i] = TensorPrimitives.Dot(
                    new ReadOnlySpan<float>(d.QRow(DO, b, i, h), d.D), new ReadOnlySpan<float>(d.QRow(O, b, i, h), d.D));
        }
    }

    private struct BackwardQ : IParallelBody
    {
        public Dims Dm; public float* Q, K, V, DO, Lse, Delta, DQ;
        public void Execute(int item, int thread)
        {
            var d = Dm;
            var blocks = (d.Tq + QueryBlock - 1) / QueryBlock;
            var b = item / (d.Hq * blocks);
            var h = item / blocks % d.Hq;
            var qb = item % blocks;
            var kvh = h / d.Group;
            var dim = d.D;
            var end = Math.Min(d.Tq, (qb + 1) * QueryBlock);
            for (var i = qb * QueryBlock; i < end; i++)
            {
                var p = d.Offset + i;
                var row = ((long)b * d.Hq + h) * d.Tq + i;
                var lse = Lse[row];
                var delta = Delta[row];
                var q = new ReadOnlySpan<float>(d.QRow(Q, b, i, h), dim);
                var dO = new ReadOnlySpan<float>(d.QRow(DO, b, i, h), dim);
                var dq = new Span<float>(d.QRow(DQ, b, i, h), dim);
                dq.Clear();
                for (var j = d.FirstKey(p); j <= p; j++)
                {
                    if (!d.Visible(b, p, j)) continue;
                    var kRow = new ReadOnlySpan<float>(d.KRow(K, b, j, kvh), dim);
                    var pij = MathF.Exp(d.Scale * TensorPrimitives.Dot(q, kRow) - lse);
                    var dp = TensorPrimitives.Dot(dO, new ReadOnlySpan<float>(d.KRow(V, b, j, kvh), dim));
                    var ds = pij * (dp - delta);
                    TensorPrimitives.MultiplyAdd(kRow, ds * d.Scale, dq, dq);
                }
            }
        }
    }

    private struct BackwardKv : IParallelBody
    {
        public Dims Dm; public float* Q, K, V, DO, Lse, Delta, DK, DV;
        public void Execute(int item, int thread)
        {
            var d = Dm;
            var blocks = (d.Tk + QueryBlock - 1) / QueryBlock;
            var b = item / (d.Hkv * blocks);
            var kvh = item / blocks % d.Hkv;
            var kb = item % blocks;
            var dim = d.D;
            var end = Math.Min(d.Tk, (kb + 1) * QueryBlock);
            for (var j = kb * QueryBlock; j < end; j++)
            {
                var kRow = new ReadOnlySpan<float>(d.KRow(K, b, j, kvh), dim);
                var vRow = new ReadOnlySpan<float>(d.KRow(V, b, j, kvh), dim);
                var dk = new Span<float>(d.KRow(DK, b, j, kvh), dim);
                var dv = new Span<float>(d.KRow(DV, b, j, kvh), dim);
                dk.Clear();
                dv.Clear();
                // queries that see key j: absolute position p in [j, j + window) and p >= Offset
                var iStart = Math.Max(0, j - d.Offset);
                var iEnd = d.Window > 0 ? Math.Min(d.Tq, j + d.Window - d.Offset) : d.Tq;
                for (var g = 0; g < d.Group; g++)
                {
                    var h = kvh * d.Group + g;
                    for (var i = iStart; i < iEnd; i++)
                    {
                        var p = d.Offset + i;
                        if (!d.Visible(b, p, j)) continue;
                        var row = ((long)b * d.Hq + h) * d.Tq + i;
                        var q = new ReadOnlySpan<float>(d.QRow(Q, b, i, h), dim);
                        var dO = new ReadOnlySpan<float>(d.QRow(DO, b, i, h), dim);
                        var pij = MathF.Exp(d.Scale * TensorPrimitives.Dot(q, kRow) - Lse[row]);
                        TensorPrimitives.MultiplyAdd(dO, pij, dv, dv);
                        var dp = TensorPrimitives.Dot(dO, vRow);
                        var ds = pij * (dp - Delta[row]);
                        TensorPrimitives.MultiplyAdd(q, ds * d.Scale, dk, dk);
                    }
                }
            }
        }
    }

    public static void AttentionBackward(WorkerPool pool, ScratchPool scratch, Tensor dOut, Tensor q, Tensor k, Tensor v, Tensor seg, float scale, int window,
        Tensor output, Tensor lse, Tensor dQ, Tensor dK, Tensor dV)
    {
        var d = Validate(q, k, v, seg, scale, window);
        Check.Same(q, dOut, "attention dOutput");
        Check.Same(q, output, "attention output");
        Check.Same(q, dQ, "attention dQ");
        Check.Same(k, dK, "attention dK");
        Check.Same(k, dV, "attention dV");
        Check.Vector(lse, (long)d.B * d.Hq * d.Tq, "attention logsumexp");
        var delta = (float*)scratch.Shared((long)d.B * d.Hq * d.Tq * sizeof(float));
        var rd = new RowDelta { Dm = d, DO = dOut.Ptr<float>(), O = output.Ptr<float>(), Delta = delta };
        pool.Run(d.B * d.Tq, ref rd);
        var bq = new BackwardQ { Dm = d, Q = q.Ptr<float>(), K = k.Ptr<float>(), V = v.Ptr<float>(), DO = dOut.Ptr<float>(), Lse = lse.Ptr<float>(), Delta = delta, DQ = dQ.Ptr<float>() };
        pool.Run(d.B * d.Hq * ((d.Tq + QueryBlock - 1) / QueryBlock), ref bq);
        var bkv = new BackwardKv { Dm = d, Q = q.Ptr<float>(), K = k.Ptr<float>(), V = v.Ptr<float>(), DO = dOut.Ptr<float>(), Lse = lse.Ptr<float>(), Delta = delta, DK = dK.Ptr<float>(), DV = dV.Ptr<float>() };
        pool.Run(d.B * d.Hkv * ((d.Tk + QueryBlock - 1) / QueryBlock), ref bkv);
    }
}
