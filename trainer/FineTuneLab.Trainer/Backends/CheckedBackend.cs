using FineTuneLab.Trainer.Tensors;

namespace FineTuneLab.Trainer.Backends;

/// <summary>
/// The argument checks of <see cref="IBackend"/>, written once: a decorator (beside <see cref="ProfilingBackend"/>)
/// that refuses a call whose operands break the interface's contract (dtype, shape, the backend's memory), naming the
/// operand, before the inner backend runs it. <see cref="BackendFactory"/> wraps every backend it creates, so the CPU
/// and CUDA backends refuse alike; they check only what is theirs alone (a CUDA kernel's size limits, say) and assume
/// checked arguments otherwise. The checks are O(1) per call: nothing here touches tensor data.
/// </summary>
public sealed class CheckedBackend(IBackend inner) : IBackend
{
    private readonly Operands _check = new(inner.Location);

    public IBackend Inner => inner;

    public string Name => inner.Name;
    public MemoryLocation Location => inner.Location;
    public IMemoryBlock AllocateMemory(long bytes) => inner.AllocateMemory(bytes);
    public void Synchronize() => inner.Synchronize();

    public void Upload(Tensor hostSource, Tensor destination)
    {
        Operands.Host(hostSource, "upload source");
        _check.Placed(destination, "upload destination");
        Operands.SameElements(hostSource, destination, "upload");
        inner.Upload(hostSource, destination);
    }

    public void Download(Tensor source, Tensor hostDestination)
    {
        _check.Placed(source, "download source");
        Operands.Host(hostDestination, "download destination");
        Operands.SameElements(source, hostDestination, "download");
        inner.Download(source, hostDestination);
    }

    public void Fill(Tensor x, float value)
    {
        _check.F32(x, "fill target");
        inner.Fill(x, value);
    }

    public void Zero(Tensor x)
    {
        _check.Placed(x, "zero target");
        inner.Zero(x);
    }

    public void Copy(Tensor source, Tensor destination)
    {
        _check.Placed(source, "copy source");
        _check.Placed(destination, "copy destination");
        Operands.SameElements(source, destination, "copy");
        inner.Copy(source, destination);
    }

    public void Convert(Tensor source, Tensor destination)
    {
        _check.Placed(source, "convert source");
        _check.Placed(destination, "convert destination");
        if (source.Count != destination.Count)
            throw new ArgumentException($"convert needs the same element count: {source} -> {destination}");
        foreach (var t in new[] { source.DType, destination.DType })
            if (t is not (DType.F32 or DType.BF16 or DType.F16))
                throw new ArgumentException($"convert handles F32, BF16 and F16, not {t}");
        inner.Convert(source, destination);
    }

    public void Add(Tensor a, Tensor b, Tensor y)
    {
        _check.F32(a, "add a");
        _check.Same(a, b, "add b");
        _check.Same(a, y, "add y");
        inner.Add(a, b, y);
    }

    public void Axpy(float alpha, Tensor x, Tensor y)
    {
        _check.F32(x, "axpy x");
        _check.Same(x, y, "axpy y");
        inner.Axpy(alpha, x, y);
    }

    public void Scale(Tensor x, float alpha, Tensor y)
    {
        _check.F32(x, "scale x");
        _check.Same(x, y, "scale y");
        inner.Scale(x, alpha, y);
    }

    public void AddBias(Tensor y, Tensor bias)
    {
        _check.F32(y, "bias target");
        _check.Vector(bias, y.Shape.Last, "bias");
        inner.AddBias(y, bias);
    }

    public void BiasGrad(Tensor dY, Tensor dBias)
    {
        _check.F32(dY, "bias grad dY");
        _check.Vector(dBias, dY.Shape.Last, "bias grad dBias");
        inner.BiasGrad(dY, dBias);
    }

    public double SumOfSquares(Tensor x)
    {
        _check.F32(x, "sum of squares input");
        return inner.SumOfSquares(x);
    }

    public void Gemm(Tensor a, bool transA, Tensor b, bool transB, Tensor c, float alpha = 1f, float beta = 0f)
    {
        CheckGemm(a, transA, b, transB, c);
        inner.Gemm(a, transA, b, transB, c, alpha, beta);
    }

    public void GemmLowRank(Tensor a, bool transA, Tensor b, bool transB, Tensor c, Tensor l, Tensor r, float lowRankScale, float alpha = 1f,
        float beta = 0f)
    {
        var (m, n) = CheckGemm(a, transA, b, transB, c);
        if (!l.IsEmpty)
        {
            _check.F32(l, "GEMM low-rank L");
            _check.F32(r, "GEMM low-rank R");
            var l2 = l.As2D();
            if (l2.Dim(0) != m || r.Rank != 2 || r.Dim(0) != l2.Dim(1) || r.Dim(1) != n)
                throw new ArgumentException($"GEMM low-rank term L {l.Shape} · R {r.Shape} does not give C's [{m}, {n}]");
        }
        inner.GemmLowRank(a, transA, b, transB, c, l, r, lowRankScale, alpha, beta);
    }

    /// <summary>A F32 [M, K] (or its transpose), B a 2-D F32/BF16/F16 matrix, C F32 [M, N]; returns (M, N).</summary>
    private (int M, int N) CheckGemm(Tensor a, bool transA, Tensor b, bool transB, Tensor c)
    {
        _check.F32(a, "GEMM A");
        _check.Placed(b, "GEMM B");
        _check.F32(c, "GEMM C");
        if (b.Rank != 2 || b.DType is not (DType.F32 or DType.BF16 or DType.F16))
            throw new ArgumentException($"GEMM B must be a 2-D F32/BF16/F16 tensor, got {b.DType} {b.Shape}");
        var a2 = a.As2D();
        int m = transA ? a2.Dim(1) : a2.Dim(0), k = transA ? a2.Dim(0) : a2.Dim(1);
        int kb = transB ? b.Dim(1) : b.Dim(0), n = transB ? b.Dim(0) : b.Dim(1);
        if (k != kb)
            throw new ArgumentException($"GEMM inner dimensions differ: op(A) of {a.Shape} (transA={transA}) is [{m}, {k}], op(B) of {b.Shape} (transB={transB}) is [{kb}, {n}]");
        if (c.Count != (long)m * n || c.Shape.Last != n) throw new ArgumentException($"GEMM C is {c.Shape}, expected [{m}, {n}]");
        return (m, n);
    }

    public void GemmNf4(Tensor a, Nf4Matrix b, bool transB, Tensor c, float alpha = 1f, float beta = 0f)
    {
        _check.Placed(a, "NF4 GEMM A");
        if (a.DType is not (DType.F32 or DType.BF16)) throw new ArgumentException($"NF4 GEMM A must be F32 or BF16, got {a.DType} {a.Shape}");
        _check.F32(c, "NF4 GEMM C");
        _check.Of(b.Packed, DType.U8, "NF4 packed weights");
        _check.Of(b.AbsmaxCodes, DType.U8, "NF4 absmax codes");
        _check.F32(b.NestedAbsmax, "NF4 nested absmax");
        _check.F32(b.QuantMap, "NF4 quant map");
        _check.F32(b.Offset, "NF4 absmax offset");
        if (b.QuantMap.Count != 256) throw new ArgumentException($"NF4 quant map must have 256 entries, got {b.QuantMap.Count}");
        if (b.BlockSize <= 0 || b.NestedBlockSize <= 0)
            throw new ArgumentOutOfRangeException(nameof(b), $"NF4 block sizes must be positive (block {b.BlockSize}, nested {b.NestedBlockSize})");
        var end = b.ElementOffset + (long)b.Rows * b.Cols;
        if (b.Packed.Count * 2 < end) throw new ArgumentException($"NF4 packed storage holds {b.Packed.Count * 2} codes, the matrix reaches {end}");
        var blocks = (end + b.BlockSize - 1) / b.BlockSize;
        if (b.AbsmaxCodes.Count < blocks) throw new ArgumentException($"NF4 absmax codes ({b.AbsmaxCodes.Count}) do not cover the matrix ({blocks} blocks)");
        if (b.NestedAbsmax.Count < (blocks + b.NestedBlockSize - 1) / b.NestedBlockSize)
            throw new ArgumentException($"NF4 nested absmax ({b.NestedAbsmax.Count}) does not cover {blocks} blocks of {b.NestedBlockSize}");
        var a2 = a.As2D();
        int m = a2.Dim(0), k = a2.Dim(1);
        int kb = transB ? b.Cols : b.Rows, n = transB ? b.Rows : b.Cols;
        if (kb != k) throw new ArgumentException($"NF4 GEMM inner dimensions differ: A {a.Shape}, W [{b.Rows}, {b.Cols}] transB={transB}");
        if (c.Count != (long)m * n || c.Shape.Last != n) throw new ArgumentException($"NF4 GEMM C is {c.Shape}, expected [{m}, {n}]");
        inner.GemmNf4(a, b, transB, c, alpha, beta);
    }

    public void EmbeddingForward(Tensor ids, Tensor table, Tensor output, bool accumulate = false)
    {
        _check.I32(ids, "embedding ids");
        _check.Placed(table, "embedding table");
        if (table.Rank != 2 || table.DType is not (DType.F32 or DType.BF16 or DType.F16))
            throw new ArgumentException($"embedding table must be a 2-D F32/BF16/F16 tensor, got {table.DType} {table.Shape}");
        _check.F32(output, "embedding output");
        if (output.Count != ids.Count * table.Dim(1)) throw new ArgumentException($"embedding output is {output.Shape}, expected [{ids.Count}, {table.Dim(1)}]");
        inner.EmbeddingForward(ids, table, output, accumulate);
    }

    public void EmbeddingBackward(Tensor ids, Tensor dOutput, Tensor dTable)
    {
        _check.I32(ids, "embedding ids");
        _check.F32(dTable, "embedding dTable");
        if (dTable.Rank != 2) throw new ArgumentException($"embedding dTable must be [V, C], got {dTable.Shape}");
        _check.F32(dOutput, "embedding dOutput");
        if (dOutput.Count != ids.Count * dTable.Dim(1)) throw new ArgumentException($"embedding dOutput is {dOutput.Shape}, expected [{ids.Count}, {dTable.Dim(1)}]");
        inner.EmbeddingBackward(ids, dOutput, dTable);
    }

    public void RmsNormForward(Tensor x, Tensor weight, float eps, Tensor y, Tensor rstd, float weightOffset = 0f)
    {
        _check.F32(x, "RMSNorm x");
        _check.Vector(weight, x.Shape.Last, "RMSNorm weight");
        _check.Same(x, y, "RMSNorm y");
        _check.Vector(rstd, x.Shape.Rows, "RMSNorm rstd");
        inner.RmsNormForward(x, weight, eps, y, rstd, weightOffset);
    }

    public void RmsNormBackward(Tensor dY, Tensor x, Tensor weight, Tensor rstd, Tensor dX, Tensor dWeight, bool accumulateDx = false, float weightOffset = 0f)
    {
        _check.F32(x, "RMSNorm x");
        _check.Same(x, dY, "RMSNorm dY");
        _check.Same(x, dX, "RMSNorm dX");
        _check.Vector(weight, x.Shape.Last, "RMSNorm weight");
        _check.Vector(rstd, x.Shape.Rows, "RMSNorm rstd");
        _check.OptionalVector(dWeight, x.Shape.Last, "RMSNorm dWeight");
        inner.RmsNormBackward(dY, x, weight, rstd, dX, dWeight, accumulateDx, weightOffset);
    }

    public void LayerNormForward(Tensor x, Tensor weight, Tensor bias, float eps, Tensor y, Tensor mean, Tensor rstd)
    {
        _check.F32(x, "LayerNorm x");
        _check.Vector(weight, x.Shape.Last, "LayerNorm weight");
        _check.Vector(bias, x.Shape.Last, "LayerNorm bias");
        _check.Same(x, y, "LayerNorm y");
        _check.Vector(mean, x.Shape.Rows, "LayerNorm mean");
        _check.Vector(rstd, x.Shape.Rows, "LayerNorm rstd");
        inner.LayerNormForward(x, weight, bias, eps, y, mean, rstd);
    }

    public void LayerNormBackward(Tensor dY, Tensor x, Tensor weight, Tensor mean, Tensor rstd, Tensor dX, Tensor dWeight, Tensor dBias,
        bool accumulateDx = false)
    {
        _check.F32(x, "LayerNorm x");
        _check.Same(x, dY, "LayerNorm dY");
        _check.Same(x, dX, "LayerNorm dX");
        _check.Vector(weight, x.Shape.Last, "LayerNorm weight");
        _check.Vector(mean, x.Shape.Rows, "LayerNorm mean");
        _check.Vector(rstd, x.Shape.Rows, "LayerNorm rstd");
        _check.OptionalVector(dWeight, x.Shape.Last, "LayerNorm dWeight");
        _check.OptionalVector(dBias, x.Shape.Last, "LayerNorm dBias");
        inner.LayerNormBackward(dY, x, weight, mean, rstd, dX, dWeight, dBias, accumulateDx);
    }

    public void RopeForward(Tensor x, Tensor positions, Tensor cos, Tensor sin, Tensor y)
    {
        CheckRope(x, positions, cos, sin, y);
        inner.RopeForward(x, positions, cos, sin, y);
    }

    public void RopeBackward(Tensor dY, Tensor positions, Tensor cos, Tensor sin, Tensor dX)
    {
        CheckRope(dY, positions, cos, sin, dX);
        inner.RopeBackward(dY, positions, cos, sin, dX);
    }

    private void CheckRope(Tensor x, Tensor positions, Tensor cos, Tensor sin, Tensor y)
    {
        _check.F32(x, "rope input");
        _check.Same(x, y, "rope output");
        _check.I32(positions, "rope positions");
        _check.F32(cos, "rope cos");
        _check.F32(sin, "rope sin");
        if (x.Rank != 3) throw new ArgumentException($"rope input must be [T, H, D], got {x.Shape}");
        var d = x.Dim(2);
        if (d % 2 != 0) throw new ArgumentException($"rope head dimension {d} is odd");
        if (positions.Count != x.Dim(0)) throw new ArgumentException($"rope positions has {positions.Count} entries, expected {x.Dim(0)} tokens");
        if (cos.Rank != 2 || cos.Dim(1) != d || sin.Shape != cos.Shape)
            throw new ArgumentException($"rope tables cos {cos.Shape} and sin {sin.Shape} must both be [maxPositions, {d}]");
    }

    public void AttentionForward(Tensor q, Tensor k, Tensor v, Tensor segmentIds, float scale, int slidingWindow, Tensor output, Tensor logSumExp)
    {
        CheckAttention(q, k, v, segmentIds, slidingWindow);
        _check.F32(output, "attention output");
        if (output.Shape != q.Shape) throw new ArgumentException($"attention output {output.Shape} must match q {q.Shape}");
        _check.Vector(logSumExp, (long)q.Dim(0) * q.Dim(2) * q.Dim(1), "attention logsumexp");
        inner.AttentionForward(q, k, v, segmentIds, scale, slidingWindow, output, logSumExp);
    }

    public void AttentionBackward(Tensor dOutput, Tensor q, Tensor k, Tensor v, Tensor segmentIds, float scale, int slidingWindow,
        Tensor output, Tensor logSumExp, Tensor dQ, Tensor dK, Tensor dV)
    {
        CheckAttention(q, k, v, segmentIds, slidingWindow);
        _check.F32(dOutput, "attention dOutput");
        _check.F32(output, "attention output");
        _check.F32(dQ, "attention dQ");
        _check.F32(dK, "attention dK");
        _check.F32(dV, "attention dV");
        if (dOutput.Shape != q.Shape || output.Shape != q.Shape || dQ.Shape != q.Shape)
            throw new ArgumentException($"attention dOutput {dOutput.Shape}, output {output.Shape} and dQ {dQ.Shape} must match q {q.Shape}");
        if (dK.Shape != k.Shape || dV.Shape != k.Shape) throw new ArgumentException($"attention dK {dK.Shape} and dV {dV.Shape} must match k {k.Shape}");
        _check.Vector(logSumExp, (long)q.Dim(0) * q.Dim(2) * q.Dim(1), "attention logsumexp");
        inner.AttentionBackward(dOutput, q, k, v, segmentIds, scale, slidingWindow, output, logSumExp, dQ, dK, dV);
    }

    /// <summary>q [B, Tq, Hq, D], k and v [B, Tk, Hkv, D] with Hq a multiple of Hkv and Tq ≤ Tk (the queries are the last Tq positions).</summary>
    private void CheckAttention(Tensor q, Tensor k, Tensor v, Tensor segmentIds, int slidingWindow)
    {
        _check.F32(q, "attention q");
        _check.F32(k, "attention k");
        _check.F32(v, "attention v");
        if (q.Rank != 4 || k.Rank != 4 || v.Rank != 4)
            throw new ArgumentException($"attention q {q.Shape}, k {k.Shape}, v {v.Shape} must be [B, T, H, D]");
        if (k.Shape != v.Shape) throw new ArgumentException($"attention k {k.Shape} and v {v.Shape} differ");
        if (k.Dim(0) != q.Dim(0) || k.Dim(3) != q.Dim(3)) throw new ArgumentException($"attention k {k.Shape} does not match q {q.Shape}");
        int hq = q.Dim(2), hkv = k.Dim(2);
        if (hkv == 0 || hq % hkv != 0) throw new ArgumentException($"attention query heads {hq} are not a multiple of kv heads {hkv}");
        if (q.Dim(1) > k.Dim(1)) throw new ArgumentException($"attention has more queries ({q.Dim(1)}) than keys ({k.Dim(1)})");
        if (slidingWindow < 0) throw new ArgumentOutOfRangeException(nameof(slidingWindow), slidingWindow, "sliding window must be >= 0");
        if (!segmentIds.IsEmpty)
        {
            _check.I32(segmentIds, "attention segment ids");
            if (segmentIds.Count != (long)q.Dim(0) * k.Dim(1))
                throw new ArgumentException($"attention segment ids {segmentIds.Shape} must be [B={q.Dim(0)}, Tk={k.Dim(1)}]");
        }
    }

    public void SwiGluForward(Tensor gate, Tensor up, Tensor y)
    {
        _check.F32(gate, "SwiGLU gate");
        _check.Same(gate, up, "SwiGLU up");
        _check.Same(gate, y, "SwiGLU output");
        inner.SwiGluForward(gate, up, y);
    }

    public void SwiGluBackward(Tensor dY, Tensor gate, Tensor up, Tensor dGate, Tensor dUp)
    {
        _check.F32(gate, "SwiGLU gate");
        _check.Same(gate, up, "SwiGLU up");
        _check.Same(gate, dY, "SwiGLU dY");
        _check.Same(gate, dGate, "SwiGLU dGate");
        _check.Same(gate, dUp, "SwiGLU dUp");
        inner.SwiGluBackward(dY, gate, up, dGate, dUp);
    }

    public void GeGluForward(Tensor gate, Tensor up, Tensor y)
    {
        _check.F32(gate, "GeGLU gate");
        _check.Same(gate, up, "GeGLU up");
        _check.Same(gate, y, "GeGLU output");
        inner.GeGluForward(gate, up, y);
    }

    public void GeGluBackward(Tensor dY, Tensor gate, Tensor up, Tensor dGate, Tensor dUp)
    {
        _check.F32(gate, "GeGLU gate");
        _check.Same(gate, up, "GeGLU up");
        _check.Same(gate, dY, "GeGLU dY");
        _check.Same(gate, dGate, "GeGLU dGate");
        _check.Same(gate, dUp, "GeGLU dUp");
        inner.GeGluBackward(dY, gate, up, dGate, dUp);
    }

    public void GeluTanhForward(Tensor x, Tensor y)
    {
        _check.F32(x, "GELU input");
        _check.Same(x, y, "GELU output");
        inner.GeluTanhForward(x, y);
    }

    public void GeluTanhBackward(Tensor dY, Tensor x, Tensor dX)
    {
        _check.F32(x, "GELU input");
        _check.Same(x, dY, "GELU dY");
        _check.Same(x, dX, "GELU dX");
        inner.GeluTanhBackward(dY, x, dX);
    }

    public void Dropout(Tensor x, float p, ulong seed, Tensor y)
    {
        _check.F32(x, "dropout input");
        _check.Same(x, y, "dropout output");
        if (!(p >= 0f && p < 1f)) throw new ArgumentOutOfRangeException(nameof(p), p, "dropout probability must be in [0, 1)");
        inner.Dropout(x, p, seed, y);
    }

    public CrossEntropyResult LmHeadCrossEntropy(Tensor hidden, Tensor weight, Tensor targets, Tensor logitsScratch, float gradScale,
        Tensor dHidden, Tensor dWeight)
    {
        _check.F32(hidden, "LM head hidden");
        _check.Placed(weight, "LM head weight");
        _check.I32(targets, "LM head targets");
        _check.F32(logitsScratch, "LM head logits scratch");
        if (hidden.Rank != 2 || weight.Rank != 2 || weight.Dim(1) != hidden.Dim(1))
            throw new ArgumentException($"LM head hidden {hidden.Shape} must be [T, C] and weight {weight.Shape} [V, C]");
        int t = hidden.Dim(0), v = weight.Dim(0);
        if (targets.Count != t) throw new ArgumentException($"LM head targets has {targets.Count} entries, expected {t}");
        if (logitsScratch.Rank != 2 || logitsScratch.Dim(1) != v || logitsScratch.Dim(0) < 1)
            throw new ArgumentException($"LM head logits scratch {logitsScratch.Shape} must be [chunk, V={v}]");
        if (!dHidden.IsEmpty)
        {
            _check.F32(dHidden, "LM head dHidden");
            if (dHidden.Shape != hidden.Shape) throw new ArgumentException($"LM head dHidden {dHidden.Shape} must match hidden {hidden.Shape}");
        }
        if (!dWeight.IsEmpty)
        {
            _check.F32(dWeight, "LM head dWeight");
            if (dWeight.Shape != weight.Shape) throw new ArgumentException($"LM head dWeight {dWeight.Shape} must match weight {weight.Shape}");
        }
        return inner.LmHeadCrossEntropy(hidden, weight, targets, logitsScratch, gradScale, dHidden, dWeight);
    }

    public void AdamWStep(Tensor param, Tensor grad, Tensor m, Tensor v, in AdamWHyperparameters hyper)
    {
        hyper.Validate();
        _check.F32(param, "AdamW param");
        _check.Vector(grad, param.Count, "AdamW grad");
        _check.Vector(m, param.Count, "AdamW exp_avg");
        _check.Vector(v, param.Count, "AdamW exp_avg_sq");
        inner.AdamWStep(param, grad, m, v, hyper);
    }

    public void DequantizeNf4(Tensor packed, Tensor absmax, int blockSize, Tensor output)
    {
        _check.Of(packed, DType.U8, "NF4 packed weights");
        _check.F32(absmax, "NF4 absmax");
        _check.Placed(output, "NF4 output");
        if (output.DType is not (DType.F32 or DType.BF16)) throw new ArgumentException($"NF4 output must be F32 or BF16, got {output.DType}");
        if (blockSize <= 0) throw new ArgumentOutOfRangeException(nameof(blockSize), blockSize, "NF4 block size must be positive");
        var n = output.Count;
        if (packed.Count * 2 < n) throw new ArgumentException($"NF4 packed weights hold {packed.Count * 2} codes, output needs {n}");
        if (absmax.Count < (n + blockSize - 1) / blockSize)
            throw new ArgumentException($"NF4 absmax has {absmax.Count} blocks, output needs {(n + blockSize - 1) / blockSize}");
        inner.DequantizeNf4(packed, absmax, blockSize, output);
    }

    public void Dispose() => inner.Dispose();
}
