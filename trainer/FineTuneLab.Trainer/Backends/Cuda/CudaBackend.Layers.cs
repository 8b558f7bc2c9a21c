using FineTuneLab.Trainer.Tensors;

namespace FineTuneLab.Trainer.Backends.Cuda;

public sealed partial class CudaBackend
{
    public void EmbeddingForward(Tensor ids, Tensor table, Tensor output, bool accumulate = false)
    {
        CudaCheck.I32(ids, "embedding ids");
        CudaCheck.Device(table, "embedding table");
        if (table.Rank != 2 || table.DType is not (DType.F32 or DType.BF16 or DType.F16))
            throw new ArgumentException($"embedding table must be a 2-D F32/BF16/F16 tensor, got {table.DType} {table.Shape}");
        CudaCheck.F32(output, "embedding output");
        if (output.Count != ids.Count * table.Dim(1)) throw new ArgumentException($"embedding output is {output.Shape}, expected [{ids.Count}, {table.Dim(1)}]");
        CudaCheck.ToInt(output.Count, "embedding output elements");
        Launch(CudaLaunches.EmbeddingForward(ids, table, output, accumulate, Flag(EmbeddingFlag)));
    }

    public void EmbeddingBackward(Tensor ids, Tensor dOutput, Tensor dTable)
    {
        CudaCheck.I32(ids, "embedding ids");
        CudaCheck.F32(dTable, "embedding dTable");
        if (dTable.Rank != 2) throw new ArgumentException($"embedding dTable must be [V, C], got {dTable.Shape}");
        CudaCheck.F32(dOutput, "embedding dOutput");
        if (dOutput.Count != ids.Count * dTable.Dim(1)) throw new ArgumentException($"embedding dOutput is {dOutput.Shape}, expected [{ids.Count}, {dTable.Dim(1)}]");
        Launch(CudaLaunches.EmbeddingBackward(ids, dOutput, dTable, Flag(EmbeddingBackwardFlag)));
    }

    public void RmsNormForward(Tensor x, Tensor weight, float eps, Tensor y, Tensor rstd)
    {
        CudaCheck.F32(x, "rmsnorm input");
        CudaCheck.Vector(weight, x.Shape.Last, "rmsnorm weight");
        CudaCheck.Same(x, y, "rmsnorm output");
        CudaCheck.Vector(rstd, x.Shape.Rows, "rmsnorm rstd");
        Launch(CudaLaunches.RmsNormForward(x, weight, eps, y, rstd));
    }

    public void RmsNormBackward(Tensor dY, Tensor x, Tensor weight, Tensor rstd, Tensor dX, Tensor dWeight, bool accumulateDx = false)
    {
        CudaCheck.F32(x, "rmsnorm input");
        CudaCheck.Same(x, dY, "rmsnorm dY");
        CudaCheck.Same(x, dX, "rmsnorm dX");
        CudaCheck.Vector(weight, x.Shape.Last, "rmsnorm weight");
        CudaCheck.Vector(rstd, x.Shape.Rows, "rmsnorm rstd");
        CudaCheck.OptionalVector(dWeight, x.Shape.Last, "rmsnorm dWeight");
        if (dWeight.IsEmpty)
        {
            Launch(CudaLaunches.RmsNormBackward(dY, x, weight, rstd, dX, 0, accumulateDx));
            return;
        }
        // Two stages, no atomics: bit-identical weight gradients run to run.
        var parts = CudaLaunches.NormBackwardBlocks((int)x.Shape.Rows, paramGrads: true);
        using var partials = Scratch((long)parts * dWeight.Count * sizeof(float));
        Launch(CudaLaunches.RmsNormBackward(dY, x, weight, rstd, dX, partials.Pointer, accumulateDx));
        Launch(CudaLaunches.NormParamGradReduce(dWeight, partials.Pointer, parts));
    }

    public void LayerNormForward(Tensor x, Tensor weight, Tensor bias, float eps, Tensor y, Tensor mean, Tensor rstd)
    {
        CudaCheck.F32(x, "layernorm input");
        CudaCheck.Vector(weight, x.Shape.Last, "layernorm weight");
        CudaCheck.Vector(bias, x.Shape.Last, "layernorm bias");
        CudaCheck.Same(x, y, "layernorm output");
        CudaCheck.Vector(mean, x.Shape.Rows, "layernorm mean");
        CudaCheck.Vector(rstd, x.Shape.Rows, "layernorm rstd");
        Launch(CudaLaunches.LayerNormForward(x, weight, bias, eps, y, mean, rstd));
    }

    public void LayerNormBackward(Tensor dY, Tensor x, Tensor weight, Tensor mean, Tensor rstd, Tensor dX, Tensor dWeight, Tensor dBias,
        bool accumulateDx = false)
    {
        CudaCheck.F32(x, "layernorm input");
        CudaCheck.Same(x, dY, "layernorm dY");
        CudaCheck.Same(x, dX, "layernorm dX");
        CudaCheck.Vector(weight, x.Shape.Last, "layernorm weight");
        CudaCheck.Vector(mean, x.Shape.Rows, "layernorm mean");
        CudaCheck.Vector(rstd, x.Shape.Rows, "layernorm rstd");
        CudaCheck.OptionalVector(dWeight, x.Shape.Last, "layernorm dWeight");
        CudaCheck.OptionalVector(dBias, x.Shape.Last, "layernorm dBias");
        var grads = !dWeight.IsEmpty || !dBias.IsEmpty;
        var parts = CudaLaunches.NormBackwardBlocks((int)x.Shape.Rows, grads);
        var plane = (long)parts * x.Shape.Last * sizeof(float);
        using var partials = grads ? Scratch(2 * plane) : null;
        nint dwParts = dWeight.IsEmpty ? 0 : partials!.Pointer, dbParts = dBias.IsEmpty ? 0 : partials!.Pointer + (nint)plane;
        Launch(CudaLaunches.LayerNormBackward(dY, x, weight, mean, rstd, dX, dwParts, dbParts, accumulateDx));
        if (!dWeight.IsEmpty) Launch(CudaLaunches.NormParamGradReduce(dWeight, dwParts, parts));
        if (!dBias.IsEmpty) Launch(CudaLaunches.NormParamGradReduce(dBias, dbParts, parts));
    }

    public void RopeForward(Tensor x, Tensor positions, Tensor cos, Tensor sin, Tensor y) => Rope(x, positions, cos, sin, y, inverse: false);

    public void RopeBackward(Tensor dY, Tensor positions, Tensor cos, Tensor sin, Tensor dX) => Rope(dY, positions, cos, sin, dX, inverse: true);

    private void Rope(Tensor x, Tensor positions, Tensor cos, Tensor sin, Tensor y, bool inverse)
    {
        CudaCheck.F32(x, "rope input");
        CudaCheck.Same(x, y, "rope output");
        CudaCheck.I32(positions, "rope positions");
        CudaCheck.F32(cos, "rope cos");
        CudaCheck.F32(sin, "rope sin");
        if (x.Rank != 3) throw new ArgumentException($"rope input must be [T, H, D], got {x.Shape}");
        var d = x.Dim(2);
        if (d % 2 != 0) throw new ArgumentException($"rope head dimension {d} is odd");
        if (positions.Count != x.Dim(0)) throw new ArgumentException($"rope positions has {positions.Count} entries, expected {x.Dim(0)}");
        if (cos.Rank != 2 || cos.Dim(1) != d || sin.Shape != cos.Shape)
            throw new ArgumentException($"rope tables cos {cos.Shape} and sin {sin.Shape} must both be [maxPositions, {d}]");
        Launch(CudaLaunches.Rope(x, positions, cos, sin, y, inverse, Flag(RopeFlag)));
    }

    /// <summary>
    /// The attention kernels cover training (Tq = Tk) and KV-cache decoding (Tq &lt; Tk), causal masking, sliding windows
    /// and packed segments, with any head dimension up to 128 (larger ones are refused, naming the size).
    /// </summary>
    private static void CheckAttention(Tensor q, Tensor k, Tensor v, Tensor segmentIds, int slidingWindow)
    {
        CudaCheck.F32(q, "attention q");
        CudaCheck.F32(k, "attention k");
        CudaCheck.F32(v, "attention v");
        if (q.Rank != 4 || k.Rank != 4 || v.Rank != 4)
            throw new ArgumentException($"attention q {q.Shape}, k {k.Shape}, v {v.Shape} must be [B, T, H, D]");
        if (k.Shape != v.Shape) throw new ArgumentException($"attention k {k.Shape} and v {v.Shape} differ");
        if (k.Dim(0) != q.Dim(0) || k.Dim(3) != q.Dim(3)) throw new ArgumentException($"attention k {k.Shape} does not match q {q.Shape}");
        int hq = q.Dim(2), hkv = k.Dim(2), d = q.Dim(3);
        if (hkv == 0 || hq % hkv != 0) throw new ArgumentException($"attention query heads {hq} are not a multiple of kv heads {hkv}");
        if (q.Dim(1) > k.Dim(1)) throw new ArgumentException($"attention has more queries ({q.Dim(1)}) than keys ({k.Dim(1)})");
        if (slidingWindow < 0) throw new ArgumentOutOfRangeException(nameof(slidingWindow), slidingWindow, "sliding window must be >= 0");
        if (d < 1 || d > CudaLaunches.AttentionMaxHeadDim)
            throw new NotSupportedException($"CUDA attention supports head dimensions up to {CudaLaunches.AttentionMaxHeadDim}, got {d}");
        if (!segmentIds.IsEmpty)
        {
            CudaCheck.I32(segmentIds, "attention segment ids");
            if (segmentIds.Count != (long)q.Dim(0) * k.Dim(1)) throw new ArgumentException($"attention segment ids {segmentIds.Shape} must be [B={q.Dim(0)}, Tk={k.Dim(1)}]");
        }
    }

    public void AttentionForward(Tensor q, Tensor k, Tensor v, Tensor segmentIds, float scale, int slidingWindow, Tensor output, Tensor logSumExp)
    {
        CheckAttention(q, k, v, segmentIds, slidingWindow);
        CudaCheck.F32(output, "attention output");
        if (output.Shape != q.Shape) throw new ArgumentException($"attention output {output.Shape} must match q {q.Shape}");
        CudaCheck.Vector(logSumExp, (long)q.Dim(0) * q.Dim(2) * q.Dim(1), "attention logSumExp");
        Launch(CudaLaunches.AttentionForward(q, k, v, segmentIds, scale, slidingWindow, output, logSumExp));
    }

    public void AttentionBackward(Tensor dOutput, Tensor q, Tensor k, Tensor v, Tensor segmentIds, float scale, int slidingWindow,
        Tensor output, Tensor logSumExp, Tensor dQ, Tensor dK, Tensor dV)
    {
        CheckAttention(q, k, v, segmentIds, slidingWindow);
        CudaCheck.F32(dOutput, "attention dOutput");
        CudaCheck.F32(output, "attention output");
        CudaCheck.F32(dQ, "attention dQ");
        CudaCheck.F32(dK, "attention dK");
        CudaCheck.F32(dV, "attention dV");
        if (dOutput.Shape != q.Shape || output.Shape != q.Shape || dQ.Shape != q.Shape)
            throw new ArgumentException($"attention dOutput {dOutput.Shape}, output {output.Shape} and dQ {dQ.Shape} must match q {q.Shape}");
        if (dK.Shape != k.Shape || dV.Shape != k.Shape) throw new ArgumentException($"attention dK {dK.Shape} and dV {dV.Shape} must match k {k.Shape}");
        var rows = (long)q.Dim(0) * q.Dim(2) * q.Dim(1);
        CudaCheck.Vector(logSumExp, rows, "attention logSumExp");
        using var delta = Scratch(rows * sizeof(float));
        Launch(CudaLaunches.AttentionBackwardDelta(dOutput, output, delta.Pointer));
        Launch(CudaLaunches.AttentionBackwardDq(dOutput, q, k, v, segmentIds, scale, slidingWindow, logSumExp, delta.Pointer, dQ));
        Launch(CudaLaunches.AttentionBackwardDkDv(dOutput, q, k, v, segmentIds, scale, slidingWindow, logSumExp, delta.Pointer, dK, dV));
    }
}
