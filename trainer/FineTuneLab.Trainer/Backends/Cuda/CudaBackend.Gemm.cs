using FineTuneLab.Trainer.Backends.Cuda.Native;
using FineTuneLab.Trainer.Tensors;

namespace FineTuneLab.Trainer.Backends.Cuda;

public sealed unsafe partial class CudaBackend
{
    /// <summary>
    /// cuBLAS is column-major; a row-major [R, C] matrix is the column-major [C, R] matrix with the same bytes. So the
    /// row-major C = op(A)·op(B) is computed as the column-major Cᵀ = op(B)ᵀ·op(A)ᵀ: B goes first, then A, m = N, n = M.
    /// A 16-bit B is widened to fp32 into scratch first (cuBLAS has no fp32 × bf16 GEMM, and the interface promises an
    /// exact widening), then the fp32 GEMM runs, on tensor cores as TF32 when <see cref="AllowTf32"/>.
    /// </summary>
    public void Gemm(Tensor a, bool transA, Tensor b, bool transB, Tensor c, float alpha = 1f, float beta = 0f)
    {
        var a2 = a.As2D();
        int m = transA ? a2.Dim(1) : a2.Dim(0), k = transA ? a2.Dim(0) : a2.Dim(1);
        int kb = transB ? b.Dim(1) : b.Dim(0), n = transB ? b.Dim(0) : b.Dim(1);
        if (m == 0 || n == 0) return;
        if (k == 0) { if (beta == 0) Zero(c); else Scale(c, beta, c); return; }
        MakeCurrent();
        if (b.DType == DType.F32)
        {
            GemmF32(a2.Data, transA, b.Data, transB, c.Data, m, n, k, alpha, beta);
            return;
        }
        using var wide = Scratch(b.Count * sizeof(float));
        var wideB = new Tensor(wide.Pointer, DType.F32, b.Shape, MemoryLocation.Cuda);
        Launch(CudaLaunches.Convert(b, wideB));
        GemmF32(a2.Data, transA, wideB.Data, transB, c.Data, m, n, k, alpha, beta);
    }

    private void GemmF32(nint a, bool transA, nint b, bool transB, nint c, int m, int n, int k, float alpha, float beta)
    {
        var compute = AllowTf32 ? cublasComputeType_t.CUBLAS_COMPUTE_32F_FAST_TF32 : cublasComputeType_t.CUBLAS_COMPUTE_32F;
        var g = CudaLaunches.GemmMapping(m, n, k, transA, transB);
        Cublas.Check(Cublas.cublasGemmEx(_cublas,
            g.TransFirst ? cublasOperation_t.CUBLAS_OP_T : cublasOperation_t.CUBLAS_OP_N,
            g.TransSecond ? cublasOperation_t.CUBLAS_OP_T : cublasOperation_t.CUBLAS_OP_N,
            g.M, g.N, g.K, &alpha,
            (ulong)b, cudaDataType.CUDA_R_32F, g.LdFirst,
            (ulong)a, cudaDataType.CUDA_R_32F, g.LdSecond,
            &beta, (ulong)c, cudaDataType.CUDA_R_32F, g.LdC, compute, cublasGemmAlgo_t.CUBLAS_GEMM_DEFAULT), "cublasGemmEx");
    }

    /// <summary>
    /// Token chunks of <paramref name="logitsScratch"/>.Dim(0) rows: logits = hidden·Wᵀ by cuBLAS into the scratch, the
    /// fused CE kernel turns them into per-token losses and (in place) their gradient, then two more GEMMs give dHidden
    /// and dWeight. Per-token losses stay on the device until the end: one wait for the whole head.
    /// </summary>
    public CrossEntropyResult LmHeadCrossEntropy(Tensor hidden, Tensor weight, Tensor targets, Tensor logitsScratch, float gradScale,
        Tensor dHidden, Tensor dWeight)
    {
        int t = hidden.Dim(0), v = weight.Dim(0);
        var wantDHidden = !dHidden.IsEmpty;
        var wantDWeight = !dWeight.IsEmpty;

        using var losses = Scratch((long)t * sizeof(float));
        // A 16-bit head is widened once for all chunks rather than once per GEMM.
        using var wide = weight.DType == DType.F32 ? null : Scratch(weight.Count * sizeof(float));
        var w32 = weight;
        if (wide is not null)
        {
            w32 = new Tensor(wide.Pointer, DType.F32, weight.Shape, MemoryLocation.Cuda);
            Launch(CudaLaunches.Convert(weight, w32));
        }
        var chunk = logitsScratch.Dim(0);
        for (var start = 0; start < t; start += chunk)
        {
            var rows = Math.Min(chunk, t - start);
            var logits = logitsScratch.Slice(0, rows);
            var h = hidden.Slice(start, rows);
            Gemm(h, false, w32, true, logits);
            Launch(CudaLaunches.CrossEntropyRows(logits, losses.Pointer + start * sizeof(float), targets.Slice(start, rows), gradScale,
                wantDHidden || wantDWeight));
            if (wantDHidden) Gemm(logits, false, w32, false, dHidden.Slice(start, rows));
            if (wantDWeight) Gemm(logits, true, h, false, dWeight, beta: 1f);
        }

        var hostLosses = new float[t];
        var hostTargets = new int[t];
        fixed (float* pl = hostLosses)
        fixed (int* pt = hostTargets)
        {
            CudaDriver.Check(CudaDriver.cuMemcpyDtoHAsync_v2(pl, (ulong)losses.Pointer, (nuint)(t * sizeof(float)), _stream), "cuMemcpyDtoHAsync");
            CudaDriver.Check(CudaDriver.cuMemcpyDtoHAsync_v2(pt, (ulong)targets.Data, (nuint)(t * sizeof(int)), _stream), "cuMemcpyDtoHAsync");
            Synchronize();
        }
        double sum = 0;
        var valid = 0;
        for (var i = 0; i < t; i++)
        {
            var target = hostTargets[i];
            if (target == CrossEntropyResult.IgnoreIndex) continue;
            if ((uint)target >= (uint)v)
                throw new ArgumentOutOfRangeException(nameof(targets), $"target {target} is outside the vocabulary of {v} (use -100 to ignore a token)");
            sum += hostLosses[i];
            valid++;
        }
        return new CrossEntropyResult(sum, valid);
    }
}
