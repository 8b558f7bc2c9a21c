using System.Diagnostics;
using FineTuneLab.Trainer.Tensors;

namespace FineTuneLab.Trainer.Backends;

/// <summary>One row of a <see cref="ProfilingBackend"/> report: an op (GEMMs keyed by shape), its calls, time and FLOPs.</summary>
/// <see cref="MinMilliseconds"/> is the fastest single call: on a machine shared with other work, calls × min estimates
/// the op's time when nothing else runs.
public sealed record OpProfile(string Op, long Calls, double Milliseconds, double Gflop, double MinMilliseconds)
{
    public double GflopsPerSecond => Milliseconds > 0 ? Gflop / (Milliseconds / 1000) : 0;
}

/// <summary>
/// A backend that times every call of another one (synchronizing after each, so GPU work is charged to the op that
/// queued it) and sums wall time and model FLOPs per op, GEMMs per (M, N, K, transposes, B dtype). For
/// <c>ftl-train bench --profile</c>: where a step's time goes, against what the FLOPs should take.
/// </summary>
public sealed class ProfilingBackend(IBackend inner) : IBackend
{
    private sealed class Entry
    {
        public long Calls;
        public long Ticks;
        public long MinTicks = long.MaxValue;
        public double Flop;
    }

    private readonly Dictionary<string, Entry> _entries = new(StringComparer.Ordinal);

    public IBackend Inner => inner;

    /// <summary>Totals since the last <see cref="Reset"/>, largest time first.</summary>
    public IReadOnlyList<OpProfile> Report() =>
        _entries.Select(e => new OpProfile(e.Key, e.Value.Calls, e.Value.Ticks * 1000.0 / Stopwatch.Frequency, e.Value.Flop / 1e9,
            e.Value.MinTicks * 1000.0 / Stopwatch.Frequency))
            .OrderByDescending(p => p.Milliseconds).ToList();

    public void Reset() => _entries.Clear();

    private long Begin() => Stopwatch.GetTimestamp();

    private void End(long start, string op, double flop = 0)
    {
        inner.Synchronize();
        var ticks = Stopwatch.GetTimestamp() - start;
        if (!_entries.TryGetValue(op, out var e)) _entries[op] = e = new Entry();
        e.Calls++;
        e.Ticks += ticks;
        e.MinTicks = Math.Min(e.MinTicks, ticks);
        e.Flop += flop;
    }

    private static string Dims(Tensor t) => t.Shape.ToString();

    public string Name => inner.Name;
    public MemoryLocation Location => inner.Location;
    public IMemoryBlock AllocateMemory(long bytes) => inner.AllocateMemory(bytes);
    public void Upload(Tensor hostSource, Tensor destination) => inner.Upload(hostSource, destination);
    public void Download(Tensor source, Tensor hostDestination) => inner.Download(source, hostDestination);
    public void Synchronize() => inner.Synchronize();

    public void Fill(Tensor x, float value) { var s = Begin(); inner.Fill(x, value); End(s, "fill"); }
    public void Zero(Tensor x) { var s = Begin(); inner.Zero(x); End(s, "zero"); }
    public void Copy(Tensor source, Tensor destination) { var s = Begin(); inner.Copy(source, destination); End(s, "copy"); }
    public void Convert(Tensor source, Tensor destination) { var s = Begin(); inner.Convert(source, destination); End(s, "convert"); }
    public void Add(Tensor a, Tensor b, Tensor y) { var s = Begin(); inner.Add(a, b, y); End(s, "add"); }
    public void Axpy(float alpha, Tensor x, Tensor y) { var s = Begin(); inner.Axpy(alpha, x, y); End(s, "axpy"); }
    public void Scale(Tensor x, float alpha, Tensor y) { var s = Begin(); inner.Scale(x, alpha, y); End(s, "scale"); }
    public void AddBias(Tensor y, Tensor bias) { var s = Begin(); inner.AddBias(y, bias); End(s, "add_bias"); }
    public void BiasGrad(Tensor dY, Tensor dBias) { var s = Begin(); inner.BiasGrad(dY, dBias); End(s, "bias_grad"); }

    public double SumOfSquares(Tensor x)
    {
        var s = Begin();
        var r = inner.SumOfSquares(x);
        End(s, "sum_of_squares");
        return r;
    }

    public void Gemm(Tensor a, bool transA, Tensor b, bool transB, Tensor c, float alpha = 1f, float beta = 0f)
    {
        var s = Begin();
        inner.Gemm(a, transA, b, transB, c, alpha, beta);
        var a2 = a.As2D();
        long m = transA ? a2.Dim(1) : a2.Dim(0), k = transA ? a2.Dim(0) : a2.Dim(1), n = transB ? b.Dim(0) : b.Dim(1);
        End(s, $"gemm {m}x{n}x{k} {(transA ? "T" : "N")}{(transB ? "T" : "N")} {b.DType}{(beta != 0 ? " +=" : "")}", 2.0 * m * n * k);
    }

    public void GemmLowRank(Tensor a, bool transA, Tensor b, bool transB, Tensor c, Tensor l, Tensor r, float lowRankScale, float alpha = 1f,
        float beta = 0f)
    {
        var s = Begin();
        inner.GemmLowRank(a, transA, b, transB, c, l, r, lowRankScale, alpha, beta);
        var a2 = a.As2D();
        long m = transA ? a2.Dim(1) : a2.Dim(0), k = transA ? a2.Dim(0) : a2.Dim(1), n = transB ? b.Dim(0) : b.Dim(1), rank = r.Dim(0);
        End(s, $"gemm {m}x{n}x{k} {(transA ? "T" : "N")}{(transB ? "T" : "N")} {b.DType}{(beta != 0 ? " +=" : "")} + low-rank {rank}", 2.0 * m * n * (k + rank));
    }

    public void EmbeddingForward(Tensor ids, Tensor table, Tensor output, bool accumulate = false)
    { var s = Begin(); inner.EmbeddingForward(ids, table, output, accumulate); End(s, "embedding_fwd"); }

    public void EmbeddingBackward(Tensor ids, Tensor dOutput, Tensor dTable)
    { var s = Begin(); inner.EmbeddingBackward(ids, dOutput, dTable); End(s, "embedding_bwd"); }

    public void RmsNormForward(Tensor x, Tensor weight, float eps, Tensor y, Tensor rstd, float weightOffset = 0f)
    { var s = Begin(); inner.RmsNormForward(x, weight, eps, y, rstd, weightOffset); End(s, "rmsnorm_fwd"); }

    public void RmsNormBackward(Tensor dY, Tensor x, Tensor weight, Tensor rstd, Tensor dX, Tensor dWeight, bool accumulateDx = false, float weightOffset = 0f)
    { var s = Begin(); inner.RmsNormBackward(dY, x, weight, rstd, dX, dWeight, accumulateDx, weightOffset); End(s, "rmsnorm_bwd"); }

    public void LayerNormForward(Tensor x, Tensor weight, Tensor bias, float eps, Tensor y, Tensor mean, Tensor rstd)
    { var s = Begin(); inner.LayerNormForward(x, weight, bias, eps, y, mean, rstd); End(s, "layernorm_fwd"); }

    public void LayerNormBackward(Tensor dY, Tensor x, Tensor weight, Tensor mean, Tensor rstd, Tensor dX, Tensor dWeight, Tensor dBias,
        bool accumulateDx = false)
    { var s = Begin(); inner.LayerNormBackward(dY, x, weight, mean, rstd, dX, dWeight, dBias, accumulateDx); End(s, "layernorm_bwd"); }

    public void RopeForward(Tensor x, Tensor positions, Tensor cos, Tensor sin, Tensor y)
    { var s = Begin(); inner.RopeForward(x, positions, cos, sin, y); End(s, "rope_fwd"); }

    public void RopeBackward(Tensor dY, Tensor positions, Tensor cos, Tensor sin, Tensor dX)
    { var s = Begin(); inner.RopeBackward(dY, positions, cos, sin, dX); End(s, "rope_bwd"); }

    // Causal attention FLOPs: q·k and p·v over the visible half of the score matrix forward; backward recomputes the
    // scores and runs dV, dP, dQ and dK (5 such products).
    private static double AttentionFlop(Tensor q, Tensor k, int products)
    {
        double b = q.Dim(0), tq = q.Dim(1), h = q.Dim(2), d = q.Dim(3), tk = k.Dim(1);
        return products * b * h * tq * tk * d;
    }

    public void AttentionForward(Tensor q, Tensor k, Tensor v, Tensor segmentIds, float scale, int slidingWindow, Tensor output, Tensor logSumExp)
    {
        var s = Begin();
        inner.AttentionForward(q, k, v, segmentIds, scale, slidingWindow, output, logSumExp);
        End(s, $"attention_fwd {Dims(q)}", AttentionFlop(q, k, 2));
    }

    public void AttentionBackward(Tensor dOutput, Tensor q, Tensor k, Tensor v, Tensor segmentIds, float scale, int slidingWindow,
        Tensor output, Tensor logSumExp, Tensor dQ, Tensor dK, Tensor dV)
    {
        var s = Begin();
        inner.AttentionBackward(dOutput, q, k, v, segmentIds, scale, slidingWindow, output, logSumExp, dQ, dK, dV);
        End(s, $"attention_bwd {Dims(q)}", AttentionFlop(q, k, 5));
    }

    public void SwiGluForward(Tensor gate, Tensor up, Tensor y) { var s = Begin(); inner.SwiGluForward(gate, up, y); End(s, "swiglu_fwd"); }

    public void SwiGluBackward(Tensor dY, Tensor gate, Tensor up, Tensor dGate, Tensor dUp)
    { var s = Begin(); inner.SwiGluBackward(dY, gate, up, dGate, dUp); End(s, "swiglu_bwd"); }

    public void GeGluForward(Tensor gate, Tensor up, Tensor y) { var s = Begin(); inner.GeGluForward(gate, up, y); End(s, "geglu_fwd"); }

    public void GeGluBackward(Tensor dY, Tensor gate, Tensor up, Tensor dGate, Tensor dUp)
    { var s = Begin(); inner.GeGluBackward(dY, gate, up, dGate, dUp); End(s, "geglu_bwd"); }

    public void GeluTanhForward(Tensor x, Tensor y) { var s = Begin(); inner.GeluTanhForward(x, y); End(s, "gelu_fwd"); }
    public void GeluTanhBackward(Tensor dY, Tensor x, Tensor dX) { var s = Begin(); inner.GeluTanhBackward(dY, x, dX); End(s, "gelu_bwd"); }
    public void Dropout(Tensor x, float p, ulong seed, Tensor y) { var s = Begin(); inner.Dropout(x, p, seed, y); End(s, "dropout"); }

    public CrossEntropyResult LmHeadCrossEntropy(Tensor hidden, Tensor weight, Tensor targets, Tensor logitsScratch, float gradScale,
        Tensor dHidden, Tensor dWeight)
    {
        var s = Begin();
        var r = inner.LmHeadCrossEntropy(hidden, weight, targets, logitsScratch, gradScale, dHidden, dWeight);
        double gemm = 2.0 * hidden.Dim(0) * weight.Dim(0) * weight.Dim(1);
        var passes = 1 + (dHidden.IsEmpty ? 0 : 1) + (dWeight.IsEmpty ? 0 : 1);
        End(s, $"lm_head_cross_entropy {Dims(hidden)} x {Dims(weight)} {weight.DType}", passes * gemm);
        return r;
    }

    public void AdamWStep(Tensor param, Tensor grad, Tensor m, Tensor v, in AdamWHyperparameters hyper)
    { var s = Begin(); inner.AdamWStep(param, grad, m, v, hyper); End(s, "adamw"); }

    public void DequantizeNf4(Tensor packed, Tensor absmax, int blockSize, Tensor output)
    { var s = Begin(); inner.DequantizeNf4(packed, absmax, blockSize, output); End(s, "dequantize_nf4"); }

    public void GemmNf4(Tensor a, Nf4Matrix b, bool transB, Tensor c, float alpha = 1f, float beta = 0f)
    {
        var s = Begin();
        inner.GemmNf4(a, b, transB, c, alpha, beta);
        long m = a.As2D().Dim(0), n = transB ? b.Rows : b.Cols, k = transB ? b.Cols : b.Rows;
        End(s, $"gemm_nf4 {m}x{n}x{k} N{(transB ? "T" : "N")}", 2.0 * m * n * k);
    }

    public void Dispose() => inner.Dispose();
}
