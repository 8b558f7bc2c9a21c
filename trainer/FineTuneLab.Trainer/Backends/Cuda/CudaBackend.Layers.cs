using FineTuneLab.Trainer.Tensors;

namespace FineTuneLab.Trainer.Backends.Cuda;

public sealed partial class CudaBackend
{
    public void EmbeddingForward(Tensor ids, Tensor table, Tensor output, bool accumulate = false)
    {
        if (output.Count > int.MaxValue)
            throw new NotSupportedException($"embedding output of {output.Count} elements exceeds the CUDA kernels' 32-bit index range");
        Launch(CudaLaunches.EmbeddingForward(ids, table, output, accumulate, Flag(EmbeddingFlag)));
    }

    public void EmbeddingBackward(Tensor ids, Tensor dOutput, Tensor dTable)
    {
        Launch(CudaLaunches.EmbeddingBackward(ids, dOutput, dTable, Flag(EmbeddingBackwardFlag)));
    }

    public void RmsNormForward(Tensor x, Tensor weight, float eps, Tensor y, Tensor rstd, float weightOffset = 0f)
    {
        Launch(CudaLaunches.RmsNormForward(x, weight, eps, y, rstd, weightOffset));
    }

    public void RmsNormBackward(Tensor dY, Tensor x, Tensor weight, Tensor rstd, Tensor dX, Tensor dWeight, bool accumulateDx = false, float weightOffset = 0f)
    {
        if (dWeight.IsEmpty)
        {
            Launch(CudaLaunches.RmsNormBackward(dY, x, weight, rstd, dX, 0, accumulateDx, weightOffset));
            return;
        }
        // Two stages, no atomics: bit-identical weight gradients run to run.
        var parts = CudaLaunches.NormBackwardBlocks((int)x.Shape.Rows, paramGrads: true);
        using var partials = Scratch((long)parts * dWeight.Count * sizeof(float));
        Launch(CudaLaunches.RmsNormBackward(dY, x, weight, rstd, dX, partials.Pointer, accumulateDx, weightOffset));
        Launch(CudaLaunches.NormParamGradReduce(dWeight, partials.Pointer, parts));
    }

    public void LayerNormForward(Tensor x, Tensor weight, Tensor bias, float eps, Tensor y, Tensor mean, Tensor rstd)
    {
        Launch(CudaLaunches.LayerNormForward(x, weight, bias, eps, y, mean, rstd));
    }

    public void LayerNormBackward(Tensor dY, Tensor x, Tensor weight, Tensor mean, Tensor rstd, Tensor dX, Tensor dWeight, Tensor dBias,
        bool accumulateDx = false)
    {
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
        Launch(CudaLaunches.Rope(x, positions, cos, sin, y, inverse, Flag(RopeFlag)));
    }

    /// <summary>
    /// The attention kernels cover training (Tq = Tk) and KV-cache decoding (Tq &lt; Tk), causal masking, sliding windows
    /// and packed segments, with any head dimension up to 256 (the _d256 kernels above 128, for Gemma 3; larger ones are
    /// refused, naming the size; the operands themselves are <see cref="CheckedBackend"/>'s to check).
    /// </summary>
    private static void CheckHeadDim(Tensor q)
    {
        int d = q.Dim(3);
        if (d < 1 || d > CudaLaunches.AttentionMaxHeadDim)
            throw new NotSupportedException($"CUDA attention supports head dimensions up to {CudaLaunches.AttentionMaxHeadDim}, got {d}");
    }

    public void AttentionForward(Tensor q, Tensor k, Tensor v, Tensor segmentIds, float scale, int slidingWindow, Tensor output, Tensor logSumExp)
    {
        CheckHeadDim(q);
        Launch(CudaLaunches.AttentionForward(q, k, v, segmentIds, scale, slidingWindow, output, logSumExp));
    }

    public void AttentionBackward(Tensor dOutput, Tensor q, Tensor k, Tensor v, Tensor segmentIds, float scale, int slidingWindow,
        Tensor output, Tensor logSumExp, Tensor dQ, Tensor dK, Tensor dV)
    {
        CheckHeadDim(q);
        var rows = (long)q.Dim(0) * q.Dim(2) * q.Dim(1);
        using var delta = Scratch(rows * sizeof(float));
        Launch(CudaLaunches.AttentionBackwardDelta(dOutput, output, delta.Pointer));
        Launch(CudaLaunches.AttentionBackwardDq(dOutput, q, k, v, segmentIds, scale, slidingWindow, logSumExp, delta.Pointer, dQ));
        Launch(CudaLaunches.AttentionBackwardDkDv(dOutput, q, k, v, segmentIds, scale, slidingWindow, logSumExp, delta.Pointer, dK, dV));
    }
}
