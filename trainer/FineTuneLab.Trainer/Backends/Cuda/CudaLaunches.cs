using FineTuneLab.Trainer.Tensors;

namespace FineTuneLab.Trainer.Backends.Cuda;

/// <summary>
/// How the CUDA backend launches each kernel: pure functions from tensors to a <see cref="KernelCall"/> (name, grid,
/// block, arguments in the kernel's parameter order). Kept apart from the launching so the tests can check every
/// argument list against the kernel's compiled signature without a GPU, and that every kernel the sources compile is
/// launched from here. A kernel family written for several dtypes (<c>FTL_FOR_FLOAT_TYPES</c>) is launched by one
/// builder that picks the instance from its tensors' dtype (<see cref="Suffix"/>); the backend's argument checks decide
/// which dtypes it runs today. Validation of shapes is the backend's job.
/// </summary>
public static class CudaLaunches
{
    public const uint ElementBlock = 256;
    public const uint RowBlock = 256;
    /// <summary>attention.cu: ATT_WARPS warps per block, ATT_FWD_QPW query rows per warp in the forward, ATT_TILE keys per tile.</summary>
    public const int AttentionWarps = 8, AttentionForwardRowsPerWarp = 2, AttentionTile = 32;
    /// <summary>The attention kernels exist for heads up to 128 and, suffixed <c>_d256</c>, up to 256 (Gemma 3).</summary>
    public const int AttentionMaxHeadDim = 256, AttentionSmallHeadDim = 128;

    private static int AttentionCapacity(int headDim) => headDim <= AttentionSmallHeadDim ? AttentionSmallHeadDim : AttentionMaxHeadDim;
    private static string AttentionKernel(string kernel, int headDim, DType dtype) =>
        $"{kernel}{(headDim <= AttentionSmallHeadDim ? "" : "_d256")}_{Suffix(dtype)}";

    /// <summary>
    /// The dynamic shared memory of an attention kernel (attention.cu's tile layouts, fp32, for the kernel's head-dim
    /// capacity D): the forward holds K [32, D+1], V [32, D] and the block's queries [16, D]; the backwards two padded
    /// [32, D+1] tiles and two [8, D] rows. About 41 KiB for D = 128 and 82 KiB for D = 256 (above the 48 KiB a kernel
    /// gets without opting in).
    /// </summary>
    public static uint AttentionSharedBytes(bool forward, int headDim)
    {
        int d = AttentionCapacity(headDim);
        int floats = forward
            ? AttentionTile * (d + 1) + AttentionTile * d + AttentionWarps * AttentionForwardRowsPerWarp * d
            : 2 * AttentionTile * (d + 1) + 2 * AttentionWarps * d;
        return (uint)(floats * sizeof(float));
    }
    /// <summary>Grid-stride kernels: enough blocks to fill any current GPU several times over, never more than needed.</summary>
    public const long MaxElementGrid = 65536;
    public const int SumOfSquaresBlocks = 1024;
    /// <summary>Partial-sum rows of the norm weight gradients (the first stage of their fixed-order reduction).</summary>
    public const int NormGradParts = 256;

    public static uint ElementGrid(long n) => (uint)Math.Clamp((n + ElementBlock - 1) / ElementBlock, 1, MaxElementGrid);

    private static KernelCall Elementwise(string kernel, long n, KernelArgs args) => KernelCall.Linear(kernel, ElementGrid(n), ElementBlock, args);

    public static string Suffix(DType dtype) => dtype switch
    {
        DType.F32 => "f32",
        DType.BF16 => "bf16",
        DType.F16 => "f16",
        _ => throw new ArgumentException($"no floating-point kernel variant for {dtype}"),
    };

    public static KernelCall Fill(Tensor x, float value) => Elementwise("fill_f32", x.Count, new KernelArgs().Ptr(x.Data).I64(x.Count).F32(value));

    public static KernelCall Scale(Tensor x, float alpha, Tensor y) => Elementwise("scale_f32", x.Count, new KernelArgs().Ptr(y.Data).Ptr(x.Data).I64(x.Count).F32(alpha));

    public static KernelCall Axpy(float alpha, Tensor x, Tensor y) => Elementwise("axpy_f32", x.Count, new KernelArgs().Ptr(y.Data).Ptr(x.Data).I64(x.Count).F32(alpha));

    public static KernelCall Add(Tensor a, Tensor b, Tensor y) => Elementwise($"residual_add_{Suffix(a.DType)}", a.Count, new KernelArgs().Ptr(y.Data).Ptr(a.Data).Ptr(b.Data).I64(a.Count));

    public static KernelCall Convert(Tensor source, Tensor destination) =>
        Elementwise($"convert_{Suffix(source.DType)}_to_{Suffix(destination.DType)}", source.Count,
            new KernelArgs().Ptr(destination.Data).Ptr(source.Data).I64(source.Count));

    public static KernelCall AddBias(Tensor y, Tensor bias) =>
        Elementwise("add_bias_f32", y.Count, new KernelArgs().Ptr(y.Data).Ptr(bias.Data).I64(y.Count / bias.Count).I32((int)bias.Count));

    public static KernelCall BiasGrad(Tensor dY, Tensor dBias) =>
        Elementwise("bias_grad_f32", dBias.Count, new KernelArgs().Ptr(dBias.Data).Ptr(dY.Data).I64(dY.Count / dBias.Count).I32((int)dBias.Count));

    /// <summary>Per-block partial sums of squares into <paramref name="partials"/> [<see cref="SumOfSquaresBlocks"/>] (fewer blocks for small tensors).</summary>
    public static KernelCall SumOfSquaresPartials(Tensor x, nint partials, out int blocks)
    {
        blocks = (int)Math.Clamp((x.Count + ElementBlock - 1) / ElementBlock, 1, SumOfSquaresBlocks);
        return KernelCall.Linear($"sumsq_partials_{Suffix(x.DType)}", (uint)blocks, ElementBlock, new KernelArgs().Ptr(partials).I32(0).Ptr(x.Data).I64(x.Count));
    }

    public static KernelCall EmbeddingForward(Tensor ids, Tensor table, Tensor output, bool accumulate, nint errorFlag)
    {
        int tokens = (int)ids.Count, dim = table.Dim(1), vocab = table.Dim(0);
        return Elementwise($"embed_lookup_{Suffix(table.DType)}", (long)tokens * dim,
            new KernelArgs().Ptr(output.Data).Ptr(table.Data).Ptr(ids.Data).I32(tokens).I32(dim).I32(vocab).I32(accumulate ? 1 : 0).Ptr(errorFlag));
    }

    public static KernelCall EmbeddingBackward(Tensor ids, Tensor dOutput, Tensor dTable, nint errorFlag)
    {
        int tokens = (int)ids.Count, dim = dTable.Dim(1), vocab = dTable.Dim(0);
        return Elementwise("embed_backward_f32", dim,
            new KernelArgs().Ptr(dTable.Data).Ptr(dOutput.Data).Ptr(ids.Data).I32(tokens).I32(dim).I32(vocab).Ptr(errorFlag));
    }

    public static KernelCall RmsNormForward(Tensor x, Tensor weight, float eps, Tensor y, Tensor rstd, float weightOffset)
    {
        var rows = (int)(x.Count / weight.Count);
        return KernelCall.Linear($"rmsnorm_fwd_{Suffix(x.DType)}", (uint)rows, RowBlock,
            new KernelArgs().Ptr(y.Data).Ptr(rstd.Data).Ptr(x.Data).Ptr(weight.Data).I32(rows).I32((int)weight.Count).F32(eps).F32(weightOffset));
    }

    /// <summary>
    /// Blocks of the norm backwards: with a weight gradient, a fixed <see cref="NormGradParts"/> (fewer for fewer rows),
    /// each writing its own row of partial sums, so the reduction order never depends on the device; without one, a
    /// block per row as far as the grid allows.
    /// </summary>
    public static int NormBackwardBlocks(int rows, bool paramGrads) => Math.Max(1, (int)Math.Min(rows, paramGrads ? NormGradParts : MaxElementGrid));

    public static KernelCall RmsNormBackward(Tensor dY, Tensor x, Tensor weight, Tensor rstd, Tensor dX, nint dWeightPartials, bool accumulateDx,
        float weightOffset)
    {
        var rows = (int)(x.Count / weight.Count);
        return KernelCall.Linear($"rmsnorm_bwd_{Suffix(x.DType)}", (uint)NormBackwardBlocks(rows, dWeightPartials != 0), RowBlock,
            new KernelArgs().Ptr(dX.Data).Ptr(dWeightPartials).Ptr(dY.Data).Ptr(x.Data).Ptr(weight.Data).Ptr(rstd.Data)
                .I32(rows).I32((int)weight.Count).F32(weightOffset).I32(accumulateDx ? 1 : 0));
    }

    /// <summary>grad[c] += the <paramref name="parts"/> partial sums of column c, in order (the norms' second stage).</summary>
    public static KernelCall NormParamGradReduce(Tensor grad, nint partials, int parts) =>
        Elementwise("norm_param_grad_reduce", grad.Count, new KernelArgs().Ptr(grad.Data).Ptr(partials).I32(parts).I32((int)grad.Count));

    public static KernelCall LayerNormForward(Tensor x, Tensor weight, Tensor bias, float eps, Tensor y, Tensor mean, Tensor rstd)
    {
        var rows = (int)(x.Count / weight.Count);
        return KernelCall.Linear($"layernorm_fwd_{Suffix(x.DType)}", (uint)rows, RowBlock,
            new KernelArgs().Ptr(y.Data).Ptr(mean.Data).Ptr(rstd.Data).Ptr(x.Data).Ptr(weight.Data).Ptr(bias.Data)
                .I32(rows).I32((int)weight.Count).F32(eps));
    }

    public static KernelCall LayerNormBackward(Tensor dY, Tensor x, Tensor weight, Tensor mean, Tensor rstd, Tensor dX, nint dWeightPartials,
        nint dBiasPartials, bool accumulateDx)
    {
        var rows = (int)(x.Count / weight.Count);
        return KernelCall.Linear($"layernorm_bwd_{Suffix(x.DType)}", (uint)NormBackwardBlocks(rows, dWeightPartials != 0 || dBiasPartials != 0), RowBlock,
            new KernelArgs().Ptr(dX.Data).Ptr(dWeightPartials).Ptr(dBiasPartials).Ptr(dY.Data).Ptr(x.Data).Ptr(weight.Data)
                .Ptr(mean.Data).Ptr(rstd.Data).I32(rows).I32((int)weight.Count).I32(accumulateDx ? 1 : 0));
    }

    public static KernelCall Rope(Tensor x, Tensor positions, Tensor cos, Tensor sin, Tensor y, bool inverse, nint errorFlag)
    {
        int t = x.Dim(0), h = x.Dim(1), d = x.Dim(2);
        return Elementwise("rope_table_f32", (long)t * h * (d / 2),
            new KernelArgs().Ptr(y.Data).Ptr(x.Data).Ptr(positions.Data).Ptr(cos.Data).Ptr(sin.Data)
                .I32(t).I32(h).I32(d).I32(cos.Dim(0)).I32(inverse ? 1 : 0).Ptr(errorFlag));
    }

    public static KernelCall AttentionForward(Tensor q, Tensor k, Tensor v, Tensor segmentIds, float scale, int slidingWindow, Tensor output, Tensor logSumExp)
    {
        int b = q.Dim(0), tq = q.Dim(1), hq = q.Dim(2), d = q.Dim(3), tk = k.Dim(1), hkv = k.Dim(2);
        const int rows = AttentionWarps * AttentionForwardRowsPerWarp;
        return new KernelCall(AttentionKernel("attn_fwd", d, q.DType), (uint)((tq + rows - 1) / rows), (uint)hq, (uint)b, AttentionWarps * 32,
            AttentionSharedBytes(forward: true, d),
            new KernelArgs().Ptr(output.Data).Ptr(logSumExp.Data).Ptr(q.Data).Ptr(k.Data).Ptr(v.Data).Ptr(segmentIds.Data)
                .I32(tq).I32(tk).I32(hq).I32(hkv).I32(d).F32(scale).I32(slidingWindow));
    }

    public static KernelCall AttentionBackwardDelta(Tensor dOutput, Tensor output, nint delta)
    {
        int b = output.Dim(0), t = output.Dim(1), hq = output.Dim(2), d = output.Dim(3);
        long rows = (long)b * t * hq;
        const int warpsPerBlock = (int)(ElementBlock / 32);
        var grid = (uint)Math.Clamp((rows + warpsPerBlock - 1) / warpsPerBlock, 1, MaxElementGrid);
        return KernelCall.Linear($"attn_bwd_delta_{Suffix(output.DType)}", grid, ElementBlock,
            new KernelArgs().Ptr(delta).Ptr(dOutput.Data).Ptr(output.Data).I32(b).I32(t).I32(hq).I32(d));
    }

    public static KernelCall AttentionBackwardDq(Tensor dOutput, Tensor q, Tensor k, Tensor v, Tensor segmentIds, float scale, int slidingWindow,
        Tensor logSumExp, nint delta, Tensor dQ)
    {
        int b = q.Dim(0), tq = q.Dim(1), hq = q.Dim(2), d = q.Dim(3), tk = k.Dim(1), hkv = k.Dim(2);
        return new KernelCall(AttentionKernel("attn_bwd_dq", d, q.DType), (uint)((tq + AttentionWarps - 1) / AttentionWarps), (uint)hq, (uint)b,
            AttentionWarps * 32, AttentionSharedBytes(forward: false, d),
            new KernelArgs().Ptr(dQ.Data).Ptr(dOutput.Data).Ptr(q.Data).Ptr(k.Data).Ptr(v.Data).Ptr(logSumExp.Data).Ptr(delta)
                .Ptr(segmentIds.Data).I32(tq).I32(tk).I32(hq).I32(hkv).I32(d).F32(scale).I32(slidingWindow));
    }

    public static KernelCall AttentionBackwardDkDv(Tensor dOutput, Tensor q, Tensor k, Tensor v, Tensor segmentIds, float scale, int slidingWindow,
        Tensor logSumExp, nint delta, Tensor dK, Tensor dV)
    {
        int b = q.Dim(0), tq = q.Dim(1), hq = q.Dim(2), d = q.Dim(3), tk = k.Dim(1), hkv = k.Dim(2);
        return new KernelCall(AttentionKernel("attn_bwd_dkdv", d, q.DType), (uint)((tk + AttentionWarps - 1) / AttentionWarps), (uint)hkv, (uint)b,
            AttentionWarps * 32, AttentionSharedBytes(forward: false, d),
            new KernelArgs().Ptr(dK.Data).Ptr(dV.Data).Ptr(dOutput.Data).Ptr(q.Data).Ptr(k.Data).Ptr(v.Data).Ptr(logSumExp.Data)
                .Ptr(delta).Ptr(segmentIds.Data).I32(tq).I32(tk).I32(hq).I32(hkv).I32(d).F32(scale).I32(slidingWindow));
    }

    public static KernelCall SwiGluForward(Tensor gate, Tensor up, Tensor y) =>
        Elementwise($"swiglu_fwd_{Suffix(y.DType)}", y.Count, new KernelArgs().Ptr(y.Data).Ptr(gate.Data).Ptr(up.Data).I64(y.Count));

    public static KernelCall SwiGluBackward(Tensor dY, Tensor gate, Tensor up, Tensor dGate, Tensor dUp) =>
        Elementwise($"swiglu_bwd_{Suffix(dY.DType)}", dY.Count, new KernelArgs().Ptr(dGate.Data).Ptr(dUp.Data).Ptr(dY.Data).Ptr(gate.Data).Ptr(up.Data).I64(dY.Count));

    public static KernelCall GeGluForward(Tensor gate, Tensor up, Tensor y) =>
        Elementwise($"geglu_fwd_{Suffix(y.DType)}", y.Count, new KernelArgs().Ptr(y.Data).Ptr(gate.Data).Ptr(up.Data).I64(y.Count));

    public static KernelCall GeGluBackward(Tensor dY, Tensor gate, Tensor up, Tensor dGate, Tensor dUp) =>
        Elementwise($"geglu_bwd_{Suffix(dY.DType)}", dY.Count, new KernelArgs().Ptr(dGate.Data).Ptr(dUp.Data).Ptr(dY.Data).Ptr(gate.Data).Ptr(up.Data).I64(dY.Count));

    public static KernelCall GeluTanhForward(Tensor x, Tensor y) =>
        Elementwise($"gelu_tanh_fwd_{Suffix(x.DType)}", x.Count, new KernelArgs().Ptr(y.Data).Ptr(x.Data).I64(x.Count));

    public static KernelCall GeluTanhBackward(Tensor dY, Tensor x, Tensor dX) =>
        Elementwise($"gelu_tanh_bwd_{Suffix(x.DType)}", x.Count, new KernelArgs().Ptr(dX.Data).Ptr(dY.Data).Ptr(x.Data).I64(x.Count));

    public static KernelCall Dropout(Tensor x, float p, ulong seed, Tensor y) =>
        Elementwise("dropout_mask_f32", x.Count, new KernelArgs().Ptr(y.Data).Ptr(x.Data).I64(x.Count).F32(p).F32(1f / (1f - p)).U64(seed));

    /// <summary>ce_fused_rows over a chunk of rows spanning the whole vocabulary; the logits become their gradient when <paramref name="writeGrad"/>.</summary>
    public static KernelCall CrossEntropyRows(Tensor logits, nint losses, Tensor targets, float gradScale, bool writeGrad)
    {
        int rows = logits.Dim(0), vocab = logits.Dim(1);
        // 256 threads: without __launch_bounds__ a kernel may use more than the 64 registers a 1024-thread block allows.
        return KernelCall.Linear($"ce_fused_rows_{Suffix(logits.DType)}", (uint)rows, RowBlock,
            new KernelArgs().Ptr(logits.Data).Ptr(losses).Ptr(0).Ptr(targets.Data).I32(rows).I32(vocab).I64(vocab).F32(gradScale).I32(writeGrad ? 1 : 0));
    }

    /// <summary>
    /// The cublasGemmEx arguments for the row-major C[M, N] = op(A)·op(B): cuBLAS sees each row-major matrix as its
    /// column-major transpose, so it computes Cᵀ = op(B)ᵀ·op(A)ᵀ with B as its first operand, m = N, n = M.
    /// </summary>
    public static CublasGemmShape GemmMapping(int m, int n, int k, bool transA, bool transB) =>
        new(TransFirst: transB, TransSecond: transA, M: n, N: m, K: k, LdFirst: transB ? k : n, LdSecond: transA ? m : k, LdC: n);

    public static KernelCall AdamW(Tensor param, Tensor grad, Tensor m, Tensor v, in AdamWHyperparameters h)
    {
        var bc1 = 1.0 - Math.Pow(h.Beta1, h.Step);
        var bc2 = 1.0 - Math.Pow(h.Beta2, h.Step);
        return Elementwise($"adamw_{Suffix(grad.DType)}", param.Count,
            new KernelArgs().Ptr(param.Data).Ptr(grad.Data).Ptr(m.Data).Ptr(v.Data).I64(param.Count)
                .F32((float)h.LearningRate).F32((float)h.Beta1).F32((float)h.Beta2).F32((float)h.Eps).F32((float)h.WeightDecay)
                .F32((float)bc1).F32((float)bc2).Ptr(0));
    }

    public static KernelCall DequantizeNf4(Tensor packed, Tensor absmax, int blockSize, Tensor output) =>
        Elementwise($"nf4_dequant_{Suffix(output.DType)}", output.Count,
            new KernelArgs().Ptr(output.Data).Ptr(packed.Data).Ptr(absmax.Data).I64(output.Count).I32(blockSize));

    /// <summary>nf4_gemm.cu's 64 x 64 output tile per block of 256 threads.</summary>
    public const int Nf4GemmTile = 64;

    /// <summary>C[M, N] = alpha · A[M, K] · op(W) + beta · C with W in NF4, dequantized tile by tile in shared memory.</summary>
    public static KernelCall Nf4Gemm(Tensor a, Nf4Matrix w, bool transB, Tensor c, int m, int n, int k, float alpha, float beta) =>
        new($"nf4_gemm_{Suffix(a.DType)}", (uint)((n + Nf4GemmTile - 1) / Nf4GemmTile), (uint)((m + Nf4GemmTile - 1) / Nf4GemmTile), 1, 256, 0,
            new KernelArgs().Ptr(c.Data).Ptr(a.Data).Ptr(w.Packed.Data).Ptr(w.AbsmaxCodes.Data).Ptr(w.NestedAbsmax.Data).Ptr(w.QuantMap.Data)
                .Ptr(w.Offset.Data).I64(w.ElementOffset).I32(w.Cols).I32(w.BlockSize).I32(w.NestedBlockSize).I32(m).I32(n).I32(k)
                .I32(transB ? 1 : 0).F32(alpha).F32(beta));
}

/// <summary>cublasGemmEx's m, n, k, transposes and leading dimensions; the first operand is B, the second A.</summary>
public readonly record struct CublasGemmShape(bool TransFirst, bool TransSecond, int M, int N, int K, int LdFirst, int LdSecond, int LdC);
