using FineTuneLab.Trainer.Backends;
using FineTuneLab.Trainer.Backends.Cpu;
using FineTuneLab.Trainer.Models;
using FineTuneLab.Trainer.Quantization;
using FineTuneLab.Trainer.Tensors;
using FineTuneLab.Trainer.Training;

namespace FineTuneLab.Trainer.Tests.Quantization;

public sealed class QloraEngineTests(Xunit.Abstractions.ITestOutputHelper output)
{
    internal static ModelConfig SmallLlama(int vocab = 512) => new()
    {
        Family = ModelFamily.Llama, Architecture = "LlamaForCausalLM", HiddenSize = 128, NumLayers = 2, NumHeads = 4, NumKvHeads = 2,
        HeadDim = 32, IntermediateSize = 344, VocabSize = vocab, MaxPositionEmbeddings = 256, Norm = NormKind.RmsNorm, NormEps = 1e-5,
        Mlp = MlpKind.SwiGlu, Activation = "silu", TieWordEmbeddings = false, RopeTheta = 10000,
    };

    private static (Nf4Matrix Matrix, NativeBuffer Memory) Upload(Nf4Tensor q, int rows, int cols)
    {
        long Al(long b) => Arena.Aligned(b);
        var mem = new NativeBuffer(Al(q.Packed.Length) + Al(q.AbsmaxCodes.Length) + Al(4L * q.NestedAbsmax.Length) + Al(1024) + Al(4));
        long o = 0;
        Tensor Take(DType d, int n) { var t = new Tensor(mem.Pointer + (nint)o, d, new TensorShape(n)); o += Al((long)n * d.SizeOf()); return t; }
        var m = new Nf4Matrix(Take(DType.U8, q.Packed.Length), Take(DType.U8, q.AbsmaxCodes.Length), Take(DType.F32, q.NestedAbsmax.Length),
            Take(DType.F32, 256), Take(DType.F32, 1), q.BlockSize, q.NestedBlockSize, rows, cols);
        using var be = new CpuBackend(1);
        Nf4Weights.Write(be, m, q);
        return (m, mem);
    }

    private static float[] Random(int n, ulong seed, float scale)
    {
        var rng = new SplitMix64(seed);
        var v = new float[n];
        for (int i = 0; i < n; i++) v[i] = rng.Uniform(-scale, scale);
        return v;
    }

    [Theory]
    [InlineData(40, 300, 37, true, 0, 40)]
    [InlineData(40, 300, 37, false, 0, 40)]
    [InlineData(96, 128, 50, true, 32, 48)]
    [InlineData(96, 128, 50, false, 17, 31)]
    [InlineData(130, 70, 9, true, 3, 100)]
    public void Fused_NF4_GEMM_matches_dense_GEMM_on_the_dequantized_matrix(int rows, int cols, int m, bool transB, int sliceStart, int sliceRows)
    {
        var w = Random(rows * cols, 7, 0.2f);
        var q = Nf4.Quantize(w, [rows, cols]);
        var (matrix, memory) = Upload(q, rows, cols);
        using var _ = memory;
        var slice = matrix.RowSlice(sliceStart, sliceRows);
        var dense = Nf4.Dequantize(q).AsSpan(sliceStart * cols, sliceRows * cols).ToArray();
        using (var one = new CpuBackend(1)) Assert.Equal(dense, Nf4Host.Dequantize(one, slice));

        int k = transB ? cols : sliceRows, n = transB ? sliceRows : cols;
        var a = Random(m * k, 11, 1f);
        var c0 = Random(m * n, 13, 1f);
        var expected = (float[])c0.Clone();
        var actual = (float[])c0.Clone();
        using var be = new CpuBackend(2);
        using var mem = new NativeBuffer(4L * (a.Length + dense.Length + 2 * c0.Length) + 256);
        Tensor Put(float[] v, long at, TensorShape shape)
        {
            var t = new Tensor(mem.Pointer + (nint)(at * 4), DType.F32, shape);
            v.CopyTo(t.AsFloat());
            return t;
        }
        var ta = Put(a, 0, new TensorShape(m, k));
        var td = Put(dense, a.Length, new TensorShape(sliceRows, cols));
        var te = Put(expected, a.Length + dense.Length, new TensorShape(m, n));
        var tc = Put(actual, a.Length + dense.Length + c0.Length, new TensorShape(m, n));
        be.Gemm(ta, false, td, transB, te, 0.5f, 0.25f);
        be.GemmNf4(ta, slice, transB, tc, 0.5f, 0.25f);
        expected = te.AsFloat().ToArray();
        actual = tc.AsFloat().ToArray();
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - actual[i]) <= 1e-5f * (1 + Math.Abs(expected[i])), $"C[{i}]: dense {expected[i]}, fused {actual[i]}");
    }

    private static double[] TrainLosses(bool qlora, int steps)
    {
        var config = SmallLlama();
        using var backend = new CpuBackend(2);
        var lora = new LoraOptions(8, 16, LoraOptions.LlamaAllLinear);
        var options = new EngineOptions { Lora = lora, WeightDType = DType.BF16, QuantizeBase = qlora, MaxBatch = 2, MaxSeq = 32, Seed = 3 };
        using var model = new TransformerModel(config, backend, options, DType.BF16);
        model.InitRandomWeights(5);
        model.InitLora(6);
        using var step = new TrainingStep(model, new OptimizerSettings(3e-3f, WeightDecay: 0f, MaxGradNorm: 1f));
        var rng = new SplitMix64(9);
        var ids = new int[64];
        // a learnable pattern: a repeating walk through a small part of the vocabulary
        for (int i = 0; i < ids.Length; i++) ids[i] = (int)((i * 7 + (int)(rng.Next() % 3)) % 61);
        MicroBatch[] batch = [new MicroBatch(ids, ids, 2, 32)];
        var losses = new double[steps];
        for (int s = 0; s < steps; s++) losses[s] = step.Step(batch).Loss;
        if (qlora) Assert.InRange(model.Nf4BitsPerParameter, 4.12, 4.14);
        return losses;
    }

    [Fact]
    public void QLoRA_loss_follows_bf16_LoRA_over_20_steps()
    {
        var bf16 = TrainLosses(false, 20);
        var nf4 = TrainLosses(true, 20);
        double worst = bf16.Zip(nf4, (b, q) => Math.Abs(q - b) / b).Max();
        output.WriteLine($"bf16 LoRA {bf16[0]:F4} -> {bf16[^1]:F4}; QLoRA {nf4[0]:F4} -> {nf4[^1]:F4}; largest per-step relative gap {worst:P2}");
        Assert.True(bf16[^1] < bf16[0] * 0.8, $"bf16 LoRA did not learn: {bf16[0]:F3} -> {bf16[^1]:F3}");
        for (int s = 0; s < bf16.Length; s++)
            Assert.True(Math.Abs(nf4[s] - bf16[s]) <= 0.05 * bf16[s], $"step {s}: QLoRA loss {nf4[s]:F4} vs bf16 LoRA {bf16[s]:F4}");
    }
}
