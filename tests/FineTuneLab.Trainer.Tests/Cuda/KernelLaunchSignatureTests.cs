using System.Text;
using System.Text.RegularExpressions;
using FineTuneLab.TestSupport;
using FineTuneLab.Trainer.Backends;
using FineTuneLab.Trainer.Backends.Cuda;
using FineTuneLab.Trainer.Tensors;
using Xunit.Abstractions;

namespace FineTuneLab.Trainer.Tests.Cuda;

/// <summary>
/// Every launch the CUDA backend makes names a kernel NVRTC actually exports, and passes exactly the kernel's
/// parameters: the same count, and for each the PTX parameter type's class and size (.u64 for pointers and 64-bit
/// integers, .u32/.s32 for int, .f32 for float), with a block size within the kernel's __launch_bounds__. This is the
/// part of a launch that can be checked without a GPU; a wrong count or a float passed as an int is caught here.
/// </summary>
public sealed partial class KernelLaunchSignatureTests(ITestOutputHelper output)
{
    private sealed record PtxKernel(string Name, IReadOnlyList<string> ParamTypes, int? MaxThreads);

    private static readonly Lazy<Dictionary<string, PtxKernel>> Kernels = new(() =>
    {
        var compiler = new NvrtcCompiler(Path.Combine(RepoPaths.Cache, "nvrtc"));
        var result = new Dictionary<string, PtxKernel>(StringComparer.Ordinal);
        foreach (var file in KernelSources.KernelFiles)
        {
            var ptx = Encoding.UTF8.GetString(compiler.CompileEmbedded(file, new ComputeCapability(8, 0), KernelImageKind.Ptx).Image);
            foreach (Match m in Entry().Matches(ptx))
            {
                var types = Param().Matches(m.Groups[2].Value).Select(p => p.Groups[1].Value).ToList();
                int? maxThreads = m.Groups[3].Success ? int.Parse(m.Groups[3].Value) : null;
                result[m.Groups[1].Value] = new PtxKernel(m.Groups[1].Value, types, maxThreads);
            }
        }
        return result;
    });

    [GeneratedRegex(@"\.visible \.entry ([A-Za-z_0-9]+)\(([^)]*)\)\s*(?:\.maxntid (\d+), 1, 1)?")]
    private static partial Regex Entry();

    [GeneratedRegex(@"\.param\s+\.([a-z]\d+)")]
    private static partial Regex Param();

    private static nint _next = 0x10000;
    private static Tensor Dev(DType dtype, params int[] dims)
    {
        _next += 0x10000;
        var shape = dims.Length switch
        {
            1 => new TensorShape(dims[0]),
            2 => new TensorShape(dims[0], dims[1]),
            3 => new TensorShape(dims[0], dims[1], dims[2]),
            _ => new TensorShape(dims[0], dims[1], dims[2], dims[3]),
        };
        return new Tensor(_next, dtype, shape, MemoryLocation.Cuda);
    }

    private static readonly DType[] FloatTypes = [DType.F32, DType.BF16, DType.F16];

    /// <summary>
    /// One call of every launch builder, with shapes like the backend's; a kernel family written for several dtypes
    /// once per dtype (the builder picks the instance from its tensors).
    /// </summary>
    public static IEnumerable<KernelCall> AllLaunches()
    {
        var ids = Dev(DType.I32, 8);
        const nint flag = 0x77;
        var x = Dev(DType.F32, 8, 64);
        var w = Dev(DType.F32, 64);
        yield return CudaLaunches.Fill(x, 1f);
        yield return CudaLaunches.Scale(x, 2f, x);
        yield return CudaLaunches.Axpy(2f, x, x);
        foreach (var (a, b) in new[] { (DType.F32, DType.BF16), (DType.BF16, DType.F32), (DType.F32, DType.F16), (DType.F16, DType.F32), (DType.BF16, DType.F16), (DType.F16, DType.BF16) })
            yield return CudaLaunches.Convert(Dev(a, 100), Dev(b, 100));
        yield return CudaLaunches.AddBias(x, w);
        yield return CudaLaunches.BiasGrad(x, w);
        yield return CudaLaunches.EmbeddingBackward(ids, x, Dev(DType.F32, 100, 64), flag);
        yield return CudaLaunches.NormParamGradReduce(w, 0x88, 8);
        var t3 = Dev(DType.F32, 8, 4, 64);
        yield return CudaLaunches.Rope(t3, ids, Dev(DType.F32, 32, 64), Dev(DType.F32, 32, 64), t3, inverse: true, flag);
        yield return CudaLaunches.Dropout(x, 0.1f, 42, x);
        yield return CudaLaunches.DequantizeNf4(Dev(DType.U8, 256), Dev(DType.F32, 8), 64, Dev(DType.F32, 512));
        yield return CudaLaunches.DequantizeNf4(Dev(DType.U8, 256), Dev(DType.F32, 8), 64, Dev(DType.BF16, 512));
        var nf4 = new Nf4Matrix(Dev(DType.U8, 2048), Dev(DType.U8, 64), Dev(DType.F32, 1), Dev(DType.F32, 256), Dev(DType.F32, 1), 64, 256, 64, 64);
        yield return CudaLaunches.Nf4Gemm(x, nf4, true, Dev(DType.F32, 8, 64), 8, 64, 64, 1f, 0f);
        yield return CudaLaunches.Nf4Gemm(Dev(DType.BF16, 8, 64), nf4, false, Dev(DType.F32, 8, 64), 8, 64, 64, 1f, 1f);
        foreach (var dt in FloatTypes)
        {
            var h = Dev(dt, 8, 64);
            var hw = Dev(dt, 64);
            var rows = Dev(DType.F32, 8);
            yield return CudaLaunches.Add(h, h, h);
            yield return CudaLaunches.SumOfSquaresPartials(h, 0x99, out _);
            yield return CudaLaunches.EmbeddingForward(ids, Dev(dt, 100, 64), x, true, flag);
            yield return CudaLaunches.RmsNormForward(h, hw, 1e-5f, h, rows, 1f);
            yield return CudaLaunches.RmsNormBackward(h, h, hw, rows, h, 0x88, true, 1f);
            yield return CudaLaunches.LayerNormForward(h, hw, hw, 1e-5f, h, rows, rows);
            yield return CudaLaunches.LayerNormBackward(h, h, hw, rows, rows, h, 0x88, 0x89, false);
            var q = Dev(dt, 2, 70, 4, 64);
            var k = Dev(dt, 2, 70, 2, 64);
            var seg = Dev(DType.I32, 2, 70);
            var lse = Dev(DType.F32, 2 * 4 * 70);
            yield return CudaLaunches.AttentionForward(q, k, k, seg, 0.125f, 16, q, lse);
            yield return CudaLaunches.AttentionBackwardDelta(q, q, 0x55);
            yield return CudaLaunches.AttentionBackwardDq(q, q, k, k, seg, 0.125f, 16, lse, 0x55, q);
            yield return CudaLaunches.AttentionBackwardDkDv(q, q, k, k, seg, 0.125f, 16, lse, 0x55, k, k);
            // Gemma 3's heads: the _d256 kernels
            var q256 = Dev(dt, 1, 9, 2, 256);
            var k256 = Dev(dt, 1, 9, 1, 256);
            var lse256 = Dev(DType.F32, 18);
            yield return CudaLaunches.AttentionForward(q256, k256, k256, default, 0.0625f, 4, q256, lse256);
            yield return CudaLaunches.AttentionBackwardDq(q256, q256, k256, k256, default, 0.0625f, 4, lse256, 0x55, q256);
            yield return CudaLaunches.AttentionBackwardDkDv(q256, q256, k256, k256, default, 0.0625f, 4, lse256, 0x55, k256, k256);
            yield return CudaLaunches.SwiGluForward(h, h, h);
            yield return CudaLaunches.SwiGluBackward(h, h, h, h, h);
            yield return CudaLaunches.GeGluForward(h, h, h);
            yield return CudaLaunches.GeGluBackward(h, h, h, h, h);
            yield return CudaLaunches.GeluTanhForward(h, h);
            yield return CudaLaunches.GeluTanhBackward(h, h, h);
            yield return CudaLaunches.CrossEntropyRows(Dev(dt, 16, 1000), 0x66, Dev(DType.I32, 16), 0.5f, true);
            yield return CudaLaunches.AdamW(x, Dev(dt, 8, 64), x, x, new AdamWHyperparameters(1e-3, 0.9, 0.999, 1e-8, 0.01, 3));
        }
    }

    /// <summary>
    /// No dead kernels: every kernel the sources compile (each <c>extern "C" __global__</c>, as the PTX lists it) is
    /// built by a <see cref="CudaLaunches"/> builder, and every builder is called by the CUDA backend itself. A kernel
    /// added without a launch, or a builder the backend stopped calling, fails here.
    /// </summary>
    [Fact]
    public void Every_compiled_kernel_has_a_launch_site_in_the_backend()
    {
        var launched = AllLaunches().Select(c => c.Kernel).ToHashSet(StringComparer.Ordinal);
        var unlaunched = Kernels.Value.Keys.Where(k => !launched.Contains(k)).Order(StringComparer.Ordinal).ToList();
        Assert.True(unlaunched.Count == 0, $"compiled kernels no launch builder makes: {string.Join(", ", unlaunched)}");

        var backendDir = Path.Combine(RepoPaths.Root, "trainer", "FineTuneLab.Trainer", "Backends", "Cuda");
        var backendSource = string.Concat(Directory.GetFiles(backendDir, "CudaBackend*.cs").Select(File.ReadAllText));
        var builders = typeof(CudaLaunches).GetMethods(System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.Static)
            .Where(m => m.ReturnType == typeof(KernelCall)).Select(m => m.Name).Distinct().ToList();
        Assert.True(builders.Count >= 25, $"{builders.Count} launch builders");
        var uncalled = builders.Where(b => !backendSource.Contains($"CudaLaunches.{b}(", StringComparison.Ordinal)).ToList();
        Assert.True(uncalled.Count == 0, $"launch builders the CUDA backend never calls: {string.Join(", ", uncalled)}");
    }

    [Fact]
    public void The_launch_site_check_sees_an_unlaunched_kernel()
    {
        // a kernel compiled from a source the backend does not know is reported, as a dead kernel would be
        var ptx = Encoding.UTF8.GetString(new NvrtcCompiler("").Compile("dead.cu", "extern \"C\" __global__ void dead_kernel_f32(float* x) { x[0] = 1.f; }",
            KernelSources.Headers, new ComputeCapability(8, 0), KernelImageKind.Ptx).Image);
        var entries = Entry().Matches(ptx).Select(m => m.Groups[1].Value).ToList();
        Assert.Equal(["dead_kernel_f32"], entries);
        Assert.DoesNotContain("dead_kernel_f32", AllLaunches().Select(c => c.Kernel));
    }

    private static bool Matches(KernelArgKind kind, string ptxType) => kind switch
    {
        KernelArgKind.Pointer or KernelArgKind.Int64 => ptxType is "u64" or "s64" or "b64",
        KernelArgKind.Int32 => ptxType is "u32" or "s32" or "b32",
        KernelArgKind.Float32 => ptxType == "f32",
        _ => false,
    };

    [Fact]
    public void Every_launch_matches_its_kernels_compiled_signature()
    {
        var launches = AllLaunches().ToList();
        var failures = new List<string>();
        foreach (var call in launches)
        {
            if (!Kernels.Value.TryGetValue(call.Kernel, out var kernel))
            {
                failures.Add($"{call.Kernel}: no such kernel in the compiled sources");
                continue;
            }
            if (kernel.ParamTypes.Count != call.Args.Count)
                failures.Add($"{call.Kernel}: passes {call.Args.Count} arguments, the kernel takes {kernel.ParamTypes.Count} ({string.Join(", ", kernel.ParamTypes)})");
            else
                for (var i = 0; i < call.Args.Count; i++)
                    if (!Matches(call.Args.Kind(i), kernel.ParamTypes[i]))
                        failures.Add($"{call.Kernel}: argument {i} is {call.Args.Kind(i)} ({KernelArgs.SizeOf(call.Args.Kind(i))} bytes), the kernel's is .{kernel.ParamTypes[i]}");
            if (call.Block is 0 or > 1024 || call.Block % 32 != 0)
                failures.Add($"{call.Kernel}: block of {call.Block} threads is not a positive multiple of 32 up to 1024");
            if (kernel.MaxThreads is { } max && call.Block > max)
                failures.Add($"{call.Kernel}: block of {call.Block} threads exceeds __launch_bounds__({max})");
            if (call.GridX == 0 || call.GridY == 0 || call.GridZ == 0)
                failures.Add($"{call.Kernel}: empty grid {call.GridX}x{call.GridY}x{call.GridZ}");
            output.WriteLine($"{call.Kernel}({string.Join(", ", kernel.ParamTypes)}) grid {call.GridX}x{call.GridY}x{call.GridZ} block {call.Block}");
        }
        Assert.True(failures.Count == 0, string.Join("\n", failures));
        Assert.True(launches.Count >= 35);
        Assert.Equal(launches.Count, launches.Select(c => c.Kernel).Distinct().Count()); // one call per kernel: the list is the inventory
    }

    [Fact]
    public void The_signature_check_catches_a_wrong_argument_list()
    {
        // The same comparison on deliberately wrong lists: one argument short, and a float where the kernel has an int.
        var kernel = Kernels.Value["rmsnorm_fwd_f32"];
        var good = CudaLaunches.RmsNormForward(Dev(DType.F32, 8, 64), Dev(DType.F32, 64), 1e-5f, Dev(DType.F32, 8, 64), Dev(DType.F32, 8), 0f);
        Assert.Equal(kernel.ParamTypes.Count, good.Args.Count);
        var shortList = new KernelArgs().Ptr(1).Ptr(2).Ptr(3).Ptr(4).I32(8).I32(64).F32(1e-5f);
        Assert.NotEqual(kernel.ParamTypes.Count, shortList.Count);
        Assert.False(Matches(KernelArgKind.Float32, kernel.ParamTypes[4])); // rows is an int
        Assert.True(Matches(KernelArgKind.Int32, kernel.ParamTypes[4]));
    }

    [Fact]
    public void Launch_geometry_follows_the_kernels_tiling()
    {
        var q = Dev(DType.F32, 3, 70, 4, 64);
        var k = Dev(DType.F32, 3, 70, 2, 64);
        var fwd = CudaLaunches.AttentionForward(q, k, k, default, 0.125f, 0, q, Dev(DType.F32, 3 * 4 * 70));
        Assert.Equal((5u, 4u, 3u, 256u), (fwd.GridX, fwd.GridY, fwd.GridZ, fwd.Block)); // 16 query rows per block
        var dkdv = CudaLaunches.AttentionBackwardDkDv(q, q, k, k, default, 0.125f, 0, Dev(DType.F32, 840), 1, k, k);
        Assert.Equal((9u, 2u, 3u), (dkdv.GridX, dkdv.GridY, dkdv.GridZ)); // 8 keys per block, one block row per kv head
        // Decoding: one query over 70 cached keys; the forward tiles queries, dK/dV tile the keys.
        var q1 = Dev(DType.F32, 3, 1, 4, 64);
        var decode = CudaLaunches.AttentionForward(q1, k, k, default, 0.125f, 0, q1, Dev(DType.F32, 12));
        Assert.Equal((1u, 4u, 3u), (decode.GridX, decode.GridY, decode.GridZ));
        Assert.Equal(9u, CudaLaunches.AttentionBackwardDkDv(q1, q1, k, k, default, 0.125f, 0, Dev(DType.F32, 12), 1, k, k).GridX);
        // dynamic shared memory sized for the kernel's head-dim capacity: under 48 KiB up to 128, opted in above
        Assert.Equal("attn_fwd_f32", fwd.Kernel);
        Assert.True(fwd.SharedBytes is > 40 * 1024 and <= 48 * 1024, $"{fwd.SharedBytes}");
        var q256 = Dev(DType.F32, 1, 9, 2, 256);
        var big = CudaLaunches.AttentionForward(q256, Dev(DType.F32, 1, 9, 1, 256), Dev(DType.F32, 1, 9, 1, 256), default, 0.0625f, 0, q256, Dev(DType.F32, 18));
        Assert.Equal("attn_fwd_d256_f32", big.Kernel);
        Assert.Equal((uint)((32 * 257 + 32 * 256 + 16 * 256) * 4), big.SharedBytes);
        var norm = CudaLaunches.RmsNormForward(Dev(DType.F32, 77, 320), Dev(DType.F32, 320), 1e-5f, Dev(DType.F32, 77, 320), Dev(DType.F32, 77), 0f);
        Assert.Equal(77u, norm.GridX); // one block per row
        var x = Dev(DType.F32, 1000, 320);
        var w = Dev(DType.F32, 320);
        var rows = Dev(DType.F32, 1000);
        // Norm backwards: a fixed number of partial-sum blocks with a weight gradient (device-independent order), else a block per row.
        Assert.Equal((uint)CudaLaunches.NormGradParts, CudaLaunches.RmsNormBackward(x, x, w, rows, x, 0x88, false, 0f).GridX);
        Assert.Equal(1000u, CudaLaunches.RmsNormBackward(x, x, w, rows, x, 0, false, 0f).GridX);
        var few = Dev(DType.F32, 77, 320);
        Assert.Equal(77u, CudaLaunches.LayerNormBackward(few, few, w, rows, rows, few, 0x88, 0, false).GridX);
        Assert.Equal(1u, CudaLaunches.ElementGrid(1));
        Assert.Equal(4u, CudaLaunches.ElementGrid(1000));
        Assert.Equal((uint)CudaLaunches.MaxElementGrid, CudaLaunches.ElementGrid(long.MaxValue / 2));
        var adam = CudaLaunches.AdamW(Dev(DType.F32, 10), Dev(DType.F32, 10), Dev(DType.F32, 10), Dev(DType.F32, 10), new AdamWHyperparameters(1e-3, 0.9, 0.999, 1e-8, 0, 2));
        Assert.Equal(BitConverter.SingleToUInt32Bits((float)(1 - 0.9 * 0.9)), (uint)adam.Args.Raw(10)); // bias correction 1 at step 2
    }
}
