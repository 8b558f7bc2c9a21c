using System.Runtime.InteropServices;
using FineTuneLab.Trainer.Backends;
using FineTuneLab.Trainer.Backends.Cpu;
using FineTuneLab.Trainer.Backends.Cuda;
using FineTuneLab.Trainer.Models;
using FineTuneLab.Trainer.Quantization;
using FineTuneLab.Trainer.Tensors;

namespace FineTuneLab.Trainer.Tests.Cuda;

/// <summary>
/// The CUDA backend's NF4 GEMM kernel (nf4_gemm.cu), compiled for the CPU with the kernel emulation and launched with
/// exactly the arguments and grid <see cref="CudaLaunches.Nf4Gemm"/> builds, against the CPU backend's fused NF4 GEMM
/// on the same quantized weights (Nf4.Quantize of random values, double quantization, row slices as fused
/// projections use them): forward x·Wᵀ and input gradient dy·W, with alpha and beta.
/// </summary>
public sealed class Nf4GemmEmulationTests : IDisposable
{
    private readonly List<NativeBuffer> _buffers = [];

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    private delegate void Nf4GemmKernel(nint c, nint a, nint packed, nint absmaxCodes, nint nested, nint quantMap, nint offset, long elementOffset,
        int wCols, int blockSize, int nestedBlock, int m, int n, int k, int transB, float alpha, float beta);

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    private delegate void Thunk();

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    private delegate int Launch(nint thunk, uint gridX, uint gridY, uint gridZ, uint block);

    /// <summary>Runs the call on the emulation: every emulated thread calls the kernel with the launch builder's argument list.</summary>
    private static void RunEmulated(nint library, KernelCall call)
    {
        Assert.Equal(17, call.Args.Count);
        var kernel = Marshal.GetDelegateForFunctionPointer<Nf4GemmKernel>(NativeLibrary.GetExport(library, call.Kernel));
        var a = call.Args;
        nint P(int i) => (nint)a.Raw(i);
        int I(int i) => (int)(uint)a.Raw(i);
        float F(int i) => BitConverter.UInt32BitsToSingle((uint)a.Raw(i));
        Thunk thunk = () => kernel(P(0), P(1), P(2), P(3), P(4), P(5), P(6), a.Raw(7), I(8), I(9), I(10), I(11), I(12), I(13), I(14), F(15), F(16));
        var launch = Marshal.GetDelegateForFunctionPointer<Launch>(NativeLibrary.GetExport(library, "ftl_emu_launch"));
        Assert.Equal(0, launch(Marshal.GetFunctionPointerForDelegate(thunk), call.GridX, call.GridY, call.GridZ, call.Block));
        GC.KeepAlive(thunk);
    }

    private static float[] Random(int n, ulong seed, float scale)
    {
        var rng = new SplitMix64(seed);
        var v = new float[n];
        for (var i = 0; i < n; i++) v[i] = rng.Uniform(-scale, scale);
        return v;
    }

    /// <summary>A host tensor holding <paramref name="values"/> (native memory, freed with the test).</summary>
    private Tensor Host(float[] values, params int[] dims)
    {
        var buffer = new NativeBuffer(Math.Max(values.Length * sizeof(float), 4));
        _buffers.Add(buffer);
        var t = buffer.AsTensor(DType.F32, dims.Length == 1 ? new TensorShape(dims[0]) : new TensorShape(dims[0], dims[1]));
        values.CopyTo(t.AsFloat());
        return t;
    }

    public void Dispose()
    {
        foreach (var b in _buffers) b.Dispose();
    }

    [Theory]
    [InlineData(90, 130, 37, true, 3, 70, 0.5f, 1f)]
    [InlineData(90, 130, 37, false, 3, 70, 1f, 0f)]
    [InlineData(64, 200, 65, true, 0, 64, 1f, 0f)]
    [InlineData(96, 128, 20, false, 17, 31, -2f, 0.25f)]
    public async Task Emulated_nf4_gemm_kernel_matches_the_cpu_backend(int rows, int cols, int m, bool transB, int sliceStart, int sliceRows,
        float alpha, float beta)
    {
        var libraryPath = await KernelEmulationTests.BuildEmulatedKernelsAsync();
        var library = NativeLibrary.Load(libraryPath);
        var q = Nf4.Quantize(Random(rows * cols, 5, 0.3f), [rows, cols]);
        long Al(long b) => Arena.Aligned(b);
        using var memory = new NativeBuffer(Al(q.Packed.Length) + Al(q.AbsmaxCodes.Length) + Al(4L * q.NestedAbsmax.Length) + Al(1024) + Al(4));
        long o = 0;
        Tensor Take(DType d, int n) { var t = new Tensor(memory.Pointer + (nint)o, d, new TensorShape(n)); o += Al((long)n * d.SizeOf()); return t; }
        var matrix = new Nf4Matrix(Take(DType.U8, q.Packed.Length), Take(DType.U8, q.AbsmaxCodes.Length), Take(DType.F32, q.NestedAbsmax.Length),
            Take(DType.F32, 256), Take(DType.F32, 1), q.BlockSize, q.NestedBlockSize, rows, cols);
        using var cpu = new CpuBackend(1);
        Nf4Weights.Write(cpu, matrix, q);
        var w = matrix.RowSlice(sliceStart, sliceRows);

        int k = transB ? cols : sliceRows, n = transB ? sliceRows : cols;
        var a = Host(Random(m * k, 9, 1f), m, k);
        var c0 = Random(m * n, 13, 1f);
        var expected = Host((float[])c0.Clone(), m, n);
        var actual = Host(beta == 0 ? Enumerable.Repeat(float.NaN, m * n).ToArray() : (float[])c0.Clone(), m, n); // beta 0: C unread
        cpu.GemmNf4(a, w, transB, expected, alpha, beta);
        RunEmulated(library, CudaLaunches.Nf4Gemm(a, w, transB, actual, m, n, k, alpha, beta));

        var want = expected.AsFloat().ToArray();
        var got = actual.AsFloat().ToArray();
        var scale = want.Max(MathF.Abs);
        var worst = want.Zip(got, (x, y) => MathF.Abs(x - y)).Max();
        Assert.True(worst <= 2e-6f * scale * k, $"max |cpu - emulated cuda| = {worst} (largest |C| {scale}, k {k})");
    }

    [Fact]
    public async Task The_emulated_kernel_dequantizes_bit_for_bit_like_the_cpu()
    {
        // A = I gives C = W exactly in the kernel (1·w + 0·… is exact), so C must equal the CPU's dequantization.
        var libraryPath = await KernelEmulationTests.BuildEmulatedKernelsAsync();
        var library = NativeLibrary.Load(libraryPath);
        const int rows = 48, cols = 96, start = 5, count = 40;
        var q = Nf4.Quantize(Random(rows * cols, 21, 2f), [rows, cols]);
        long Al(long b) => Arena.Aligned(b);
        using var memory = new NativeBuffer(Al(q.Packed.Length) + Al(q.AbsmaxCodes.Length) + Al(4L * q.NestedAbsmax.Length) + Al(1024) + Al(4));
        long o = 0;
        Tensor Take(DType d, int n) { var t = new Tensor(memory.Pointer + (nint)o, d, new TensorShape(n)); o += Al((long)n * d.SizeOf()); return t; }
        var matrix = new Nf4Matrix(Take(DType.U8, q.Packed.Length), Take(DType.U8, q.AbsmaxCodes.Length), Take(DType.F32, q.NestedAbsmax.Length),
            Take(DType.F32, 256), Take(DType.F32, 1), q.BlockSize, q.NestedBlockSize, rows, cols);
        using var cpu = new CpuBackend(1);
        Nf4Weights.Write(cpu, matrix, q);
        var slice = matrix.RowSlice(start, count);
        var eye = new float[count * count];
        for (var i = 0; i < count; i++) eye[i * count + i] = 1f;
        var c = Host(new float[count * cols], count, cols);
        RunEmulated(library, CudaLaunches.Nf4Gemm(Host(eye, count, count), slice, false, c, count, cols, count, 1f, 0f));
        Assert.Equal(Nf4Host.Dequantize(cpu, slice), c.AsFloat().ToArray());
    }
}
