using FineTuneLab.Trainer.Tensors;

namespace FineTuneLab.Trainer.Backends.Cpu;

/// <summary>
/// The reference backend: runs everywhere, SIMD through System.Runtime.Intrinsics / TensorPrimitives, threads through
/// a persistent <see cref="WorkerPool"/> with fixed work partitions (bit-identical results for a given thread count).
/// It assumes checked arguments: <see cref="BackendFactory.Cpu"/> hands it out inside <see cref="CheckedBackend"/>,
/// which refuses bad operands before a kernel reads memory through them.
/// </summary>
public sealed class CpuBackend : IBackend
{
    private readonly WorkerPool _pool;
    private readonly CpuGemm _gemm;
    private readonly CpuGemmNf4 _gemmNf4;
    private readonly ScratchPool _scratch;

    /// <param name="threads">Worker threads including the caller; defaults to the machine's logical cores.</param>
    public CpuBackend(int? threads = null)
    {
        Threads = threads ?? Environment.ProcessorCount;
        _pool = new WorkerPool(Threads);
        _gemm = new CpuGemm(_pool);
        _gemmNf4 = new CpuGemmNf4(_pool);
        _scratch = new ScratchPool(Threads);
    }

    public string Name => "cpu";
    public int Threads { get; }
    public MemoryLocation Location => MemoryLocation.Host;

    public IMemoryBlock AllocateMemory(long bytes) => new NativeBuffer(bytes);

    public void Upload(Tensor hostSource, Tensor destination) => Copy(hostSource, destination);
    public void Download(Tensor source, Tensor hostDestination) => Copy(source, hostDestination);
    public void Synchronize() { }

    public void Fill(Tensor x, float value)
    {
        CpuElementwise.Fill(_pool, x, value);
    }

    public unsafe void Zero(Tensor x)
    {
        CpuElementwise.CopyBytes(_pool, null, (byte*)x.Data, x.Bytes);
    }

    public unsafe void Copy(Tensor source, Tensor destination)
    {
        if (source.Data == destination.Data) return;
        CpuElementwise.CopyBytes(_pool, (byte*)source.Data, (byte*)destination.Data, source.Bytes);
    }

    public void Convert(Tensor source, Tensor destination)
    {
        if (source.DType == destination.DType) { Copy(source, destination); return; }
        CpuElementwise.Convert(_pool, source, destination);
    }

    public void Add(Tensor a, Tensor b, Tensor y)
    {
        CpuElementwise.Add(_pool, a, b, y);
    }

    public void Axpy(float alpha, Tensor x, Tensor y)
    {
        CpuElementwise.Axpy(_pool, alpha, x, y);
    }

    public void Scale(Tensor x, float alpha, Tensor y)
    {
        CpuElementwise.Scale(_pool, x, alpha, y);
    }

    public void AddBias(Tensor y, Tensor bias)
    {
        CpuElementwise.AddBias(_pool, y, bias);
    }

    public void BiasGrad(Tensor dY, Tensor dBias)
    {
        CpuElementwise.BiasGrad(_pool, dY, dBias);
    }

    public double SumOfSquares(Tensor x)
    {
        return CpuElementwise.SumOfSquares(_pool, x, _scratch);
    }

    public void Gemm(Tensor a, bool transA, Tensor b, bool transB, Tensor c, float alpha = 1f, float beta = 0f)
    {
        _gemm.Run(a, transA, b, transB, c, alpha, beta);
    }

    /// <summary>The low-rank product runs as one more depth block of every output tile (<see cref="CpuGemm"/>).</summary>
    public void GemmLowRank(Tensor a, bool transA, Tensor b, bool transB, Tensor c, Tensor l, Tensor r, float lowRankScale, float alpha = 1f,
        float beta = 0f)
    {
        _gemm.Run(a, transA, b, transB, c, alpha, beta, l, r, lowRankScale);
    }

    public void EmbeddingForward(Tensor ids, Tensor table, Tensor output, bool accumulate = false) =>
        CpuEmbedding.EmbeddingForward(_pool, ids, table, output, accumulate);

    public void EmbeddingBackward(Tensor ids, Tensor dOutput, Tensor dTable) =>
        CpuEmbedding.EmbeddingBackward(_pool, ids, dOutput, dTable);

    public void RmsNormForward(Tensor x, Tensor weight, float eps, Tensor y, Tensor rstd, float weightOffset = 0f)
    {
        CpuNorms.RmsNormForward(_pool, x, weight, eps, y, rstd, weightOffset);
    }

    public void RmsNormBackward(Tensor dY, Tensor x, Tensor weight, Tensor rstd, Tensor dX, Tensor dWeight, bool accumulateDx = false, float weightOffset = 0f)
    {
        CpuNorms.RmsNormBackward(_pool, dY, x, weight, rstd, dX, dWeight, accumulateDx, weightOffset);
    }

    public void LayerNormForward(Tensor x, Tensor weight, Tensor bias, float eps, Tensor y, Tensor mean, Tensor rstd)
    {
        CpuNorms.LayerNormForward(_pool, x, weight, bias, eps, y, mean, rstd);
    }

    public void LayerNormBackward(Tensor dY, Tensor x, Tensor weight, Tensor mean, Tensor rstd, Tensor dX, Tensor dWeight, Tensor dBias, bool accumulateDx = false)
    {
        CpuNorms.LayerNormBackward(_pool, dY, x, weight, mean, rstd, dX, dWeight, dBias, accumulateDx);
    }

    public void RopeForward(Tensor x, Tensor positions, Tensor cos, Tensor sin, Tensor y) =>
        CpuRope.Apply(_pool, x, positions, cos, sin, y, inverse: false);

    public void RopeBackward(Tensor dY, Tensor positions, Tensor cos, Tensor sin, Tensor dX) =>
        CpuRope.Apply(_pool, dY, positions, cos, sin, dX, inverse: true);

    public void AttentionForward(Tensor q, Tensor k, Tensor v, Tensor segmentIds, float scale, int slidingWindow, Tensor output, Tensor logSumExp) =>
        CpuAttention.AttentionForward(_pool, _scratch, q, k, v, segmentIds, scale, slidingWindow, output, logSumExp);

    public void AttentionBackward(Tensor dOutput, Tensor q, Tensor k, Tensor v, Tensor segmentIds, float scale, int slidingWindow,
        Tensor output, Tensor logSumExp, Tensor dQ, Tensor dK, Tensor dV) =>
        CpuAttention.AttentionBackward(_pool, _scratch, dOutput, q, k, v, segmentIds, scale, slidingWindow, output, logSumExp, dQ, dK, dV);

    public void SwiGluForward(Tensor gate, Tensor up, Tensor y) => CpuActivations.SwiGluForward(_pool, gate, up, y);

    public void SwiGluBackward(Tensor dY, Tensor gate, Tensor up, Tensor dGate, Tensor dUp) =>
        CpuActivations.SwiGluBackward(_pool, dY, gate, up, dGate, dUp);

    public void GeGluForward(Tensor gate, Tensor up, Tensor y) => CpuActivations.GeGluForward(_pool, gate, up, y);

    public void GeGluBackward(Tensor dY, Tensor gate, Tensor up, Tensor dGate, Tensor dUp) =>
        CpuActivations.GeGluBackward(_pool, dY, gate, up, dGate, dUp);

    public void GeluTanhForward(Tensor x, Tensor y) => CpuActivations.GeluForward(_pool, x, y);

    public void GeluTanhBackward(Tensor dY, Tensor x, Tensor dX) => CpuActivations.GeluBackward(_pool, dY, x, dX);

    public void Dropout(Tensor x, float p, ulong seed, Tensor y) => CpuActivations.Dropout(_pool, x, p, seed, y);

    public CrossEntropyResult LmHeadCrossEntropy(Tensor hidden, Tensor weight, Tensor targets, Tensor logitsScratch, float gradScale,
        Tensor dHidden, Tensor dWeight)
    {
        return CpuCrossEntropy.Run(_pool, _gemm, _scratch, hidden, weight, targets, logitsScratch, gradScale, dHidden, dWeight);
    }

    public void AdamWStep(Tensor param, Tensor grad, Tensor m, Tensor v, in AdamWHyperparameters hyper) =>
        CpuOptimizer.AdamWStep(_pool, param, grad, m, v, hyper);

    public void DequantizeNf4(Tensor packed, Tensor absmax, int blockSize, Tensor output) =>
        CpuQuantized.DequantizeNf4(_pool, packed, absmax, blockSize, output);

    /// <summary>NF4 weights dequantized tile by tile inside the GEMM (<see cref="CpuGemmNf4"/>).</summary>
    public void GemmNf4(Tensor a, Nf4Matrix b, bool transB, Tensor c, float alpha = 1f, float beta = 0f) =>
        _gemmNf4.Run(a, b, transB, c, alpha, beta);

    public void Dispose()
    {
        _gemmNf4.Dispose();
        _gemm.Dispose();
        _scratch.Dispose();
        _pool.Dispose();
    }
}
