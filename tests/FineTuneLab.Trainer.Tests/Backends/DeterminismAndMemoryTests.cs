using FineTuneLab.Trainer.Backends;
using FineTuneLab.Trainer.Backends.Cpu;
using FineTuneLab.Trainer.Tensors;

namespace FineTuneLab.Trainer.Tests.Backends;

public sealed class DeterminismAndMemoryTests
{
    private static float[] Random(int n, int seed)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
    }

    /// <summary>Runs a GEMM, attention fwd/bwd and the fused loss, returning every output concatenated.</summary>
    private static float[] RunKernels(int threads)
    {
        using var backend = new CpuBackend(threads);
        using var t = new HostTensors();
        var a = t.F32(Random(300 * 200, 1), 300, 200);
        var w = t.F32(Random(500 * 200, 2), 500, 200);
        var c = t.New(DType.F32, 300, 500);
        backend.Gemm(a, false, w, true, c);
        var dw = t.New(DType.F32, 500, 200);
        backend.Gemm(c, true, a, false, dw);

        const int T = 70, H = 4, KV = 2, D = 16;
        var q = t.F32(Random(T * H * D, 3), 1, T, H, D);
        var k = t.F32(Random(T * KV * D, 4), 1, T, KV, D);
        var v = t.F32(Random(T * KV * D, 5), 1, T, KV, D);
        var o = t.New(DType.F32, 1, T, H, D);
        var lse = t.New(DType.F32, 1, H, T);
        backend.AttentionForward(q, k, v, default, 0.25f, 0, o, lse);
        var dq = t.New(DType.F32, 1, T, H, D);
        var dk = t.New(DType.F32, 1, T, KV, D);
        var dv = t.New(DType.F32, 1, T, KV, D);
        backend.AttentionBackward(o, q, k, v, default, 0.25f, 0, o, lse, dq, dk, dv);

        var targets = t.I32(Enumerable.Range(0, 300).Select(i => i % 5 == 0 ? -100 : i % 500).ToArray());
        var dh = t.New(DType.F32, 300, 200);
        var dwh = t.New(DType.F32, 500, 200);
        var loss = backend.LmHeadCrossEntropy(a, w, targets, t.New(DType.F32, 64, 500), 1f / 240, dh, dwh);
        var gradNorm = backend.SumOfSquares(dwh);

        return [.. c.AsFloat(), .. dw.AsFloat(), .. o.AsFloat(), .. lse.AsFloat(), .. dq.AsFloat(), .. dk.AsFloat(), .. dv.AsFloat(),
            .. dh.AsFloat(), .. dwh.AsFloat(), (float)loss.LossSum, (float)gradNorm];
    }

    [Fact]
    public void Same_inputs_and_thread_count_give_bit_identical_outputs()
    {
        var first = RunKernels(2);
        for (var run = 0; run < 3; run++)
            Assert.True(first.AsSpan().SequenceEqual(RunKernels(2)), $"run {run + 2} differs from run 1");
        Assert.True(RunKernels(1).AsSpan().SequenceEqual(RunKernels(1)), "single-thread runs differ");
    }

    [Fact]
    public void Arena_aligns_bumps_resets_and_reports_overflow_by_name()
    {
        using var arena = new Arena("activations", 1024);
        var a = arena.Allocate(DType.F32, 3);
        var b = arena.Allocate(DType.BF16, 2, 5);
        Assert.Equal(0, a.Data % NativeBuffer.Alignment);
        Assert.Equal(0, b.Data % NativeBuffer.Alignment);
        Assert.Equal(a.Data + 64, b.Data);
        Assert.Equal(128, arena.Used);
        var mark = arena.Mark();
        arena.Allocate(DType.F32, 100);
        arena.ResetTo(mark);
        Assert.Equal(128, arena.Used);
        var e = Assert.Throws<InvalidOperationException>(() => arena.Allocate(DType.F32, 300));
        Assert.Contains("'activations'", e.Message);
        arena.Reset();
        Assert.Equal(0, arena.Used);
        Assert.Equal(128 + 448, arena.HighWater);
    }

    [Fact]
    public void Tensor_views_slice_reshape_and_check_bounds()
    {
        using var buffer = new NativeBuffer(4 * 24);
        var t = buffer.AsTensor(DType.F32, new TensorShape(2, 3, 4));
        for (var i = 0; i < 24; i++) t.AsFloat()[i] = i;
        var second = t.Slice(1, 1);
        Assert.Equal(new TensorShape(1, 3, 4), second.Shape);
        Assert.Equal(12f, second.AsFloat()[0]);
        Assert.Equal(new TensorShape(6, 4), t.As2D().Shape);
        Assert.Throws<ArgumentException>(() => t.Reshape(5, 5));
        Assert.Throws<ArgumentOutOfRangeException>(() => t.Slice(1, 2));
        Assert.Throws<InvalidOperationException>(() => t.AsInt32());
    }

    [Fact]
    public void Elementwise_kernels_compute_what_they_document()
    {
        using var backend = new CpuBackend(2);
        using var t = new HostTensors();
        var a = t.F32([1, 2, 3, 4, 5, 6], 2, 3);
        var b = t.F32([10, 20, 30, 40, 50, 60], 2, 3);
        var y = t.New(DType.F32, 2, 3);
        backend.Add(a, b, y);
        Assert.Equal(new float[] { 11, 22, 33, 44, 55, 66 }, y.AsFloat().ToArray());
        backend.Axpy(-2f, a, y);
        Assert.Equal(new float[] { 9, 18, 27, 36, 45, 54 }, y.AsFloat().ToArray());
        backend.Scale(y, 0.5f, y);
        Assert.Equal(new float[] { 4.5f, 9, 13.5f, 18, 22.5f, 27 }, y.AsFloat().ToArray());
        var bias = t.F32([1, 2, 3]);
        backend.AddBias(a, bias);
        Assert.Equal(new float[] { 2, 4, 6, 5, 7, 9 }, a.AsFloat().ToArray());
        var dBias = t.F32([100, 0, 0]);
        backend.BiasGrad(a, dBias);
        Assert.Equal(new float[] { 107, 11, 15 }, dBias.AsFloat().ToArray());
        Assert.Equal(4 + 16 + 36 + 25 + 49 + 81, backend.SumOfSquares(a));
        backend.Zero(a);
        Assert.All(a.AsFloat().ToArray(), v => Assert.Equal(0f, v));
    }
}
