using System.Reflection;
using FineTuneLab.Trainer.Backends;
using FineTuneLab.Trainer.Backends.Cpu;
using FineTuneLab.Trainer.Tensors;

namespace FineTuneLab.Trainer.Tests.Backends;

/// <summary>
/// The argument checks are one decorator: the backends the factory hands out are wrapped in it, a call with bad
/// operands is refused before the inner backend sees it (whichever backend that is), and good calls pass through
/// unchanged.
/// </summary>
public sealed class CheckedBackendTests
{
    /// <summary>An inner backend that computes "on the GPU" and records which of its methods were called.</summary>
    public class RecordingBackend : DispatchProxy
    {
        public List<string> Calls { get; } = [];

        protected override object? Invoke(MethodInfo? method, object?[]? args)
        {
            Calls.Add(method!.Name);
            return method.Name switch
            {
                "get_Location" => MemoryLocation.Cuda,
                "get_Name" => "recording",
                _ => method.ReturnType.IsValueType && method.ReturnType != typeof(void) ? Activator.CreateInstance(method.ReturnType) : null,
            };
        }
    }

    private static (CheckedBackend Checked, RecordingBackend Inner) OverRecording()
    {
        var inner = DispatchProxy.Create<IBackend, RecordingBackend>();
        return (new CheckedBackend(inner), (RecordingBackend)(object)inner);
    }

    private static Tensor Device(DType dtype, params int[] dims) =>
        new((nint)0x10000, dtype, dims.Length == 1 ? new TensorShape(dims[0]) : new TensorShape(dims[0], dims[1]), MemoryLocation.Cuda);

    [Fact]
    public void The_factorys_cpu_backend_refuses_mismatched_gemm_shapes_naming_them()
    {
        using var backend = BackendFactory.Cpu(1);
        Assert.IsType<CheckedBackend>(backend);
        using var t = new HostTensors();
        var e = Assert.Throws<ArgumentException>(() => backend.Gemm(t.New(DType.F32, 4, 5), false, t.New(DType.F32, 6, 3), false, t.New(DType.F32, 4, 3)));
        Assert.Contains("inner dimensions", e.Message);
        Assert.Contains("[6, 3]", e.Message);
    }

    [Fact]
    public void Bad_operands_never_reach_the_inner_backend_whichever_it_is()
    {
        var (be, inner) = OverRecording();
        using var host = new HostTensors();
        // a host tensor handed to a backend that computes on the GPU
        var e = Assert.Throws<ArgumentException>(() => be.Fill(host.New(DType.F32, 4), 1f));
        Assert.Equal("fill target lives on Host; this backend computes on Cuda (allocate it with the backend's AllocateMemory)", e.Message);
        // a wrong dtype, a wrong shape, an out-of-range probability: the same messages the CPU backend gives
        e = Assert.Throws<ArgumentException>(() => be.SwiGluForward(Device(DType.F32, 4, 8), Device(DType.BF16, 4, 8), Device(DType.F32, 4, 8)));
        Assert.Equal("SwiGLU up must be F32, got BF16 [4, 8]", e.Message);
        e = Assert.Throws<ArgumentException>(() => be.RmsNormForward(Device(DType.F32, 4, 8), Device(DType.F32, 7), 1e-5f, Device(DType.F32, 4, 8), Device(DType.F32, 4)));
        Assert.Contains("RMSNorm weight has 7 elements", e.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => be.Dropout(Device(DType.F32, 8), 1f, 0, Device(DType.F32, 8)));
        Assert.DoesNotContain(inner.Calls, c => c is "Fill" or "SwiGluForward" or "RmsNormForward" or "Dropout");

        be.Fill(Device(DType.F32, 4), 1f);
        Assert.Equal("Fill", inner.Calls[^1]);
    }

    [Fact]
    public void The_cpu_and_a_gpu_backend_refuse_the_same_call_with_the_same_message()
    {
        var (gpu, _) = OverRecording();
        using var cpu = BackendFactory.Cpu(1);
        using var host = new HostTensors();
        var cpuError = Assert.Throws<ArgumentException>(() => cpu.AttentionForward(host.New(DType.F32, 1, 4), host.New(DType.F32, 1, 4), host.New(DType.F32, 1, 4),
            default, 1f, 0, host.New(DType.F32, 1, 4), host.New(DType.F32, 4)));
        var gpuError = Assert.Throws<ArgumentException>(() => gpu.AttentionForward(Device(DType.F32, 1, 4), Device(DType.F32, 1, 4), Device(DType.F32, 1, 4),
            default, 1f, 0, Device(DType.F32, 1, 4), Device(DType.F32, 4)));
        Assert.Equal(cpuError.Message, gpuError.Message);
        Assert.Contains("must be [B, T, H, D]", cpuError.Message);
    }

    [Fact]
    public void Checked_calls_compute_what_the_raw_backend_computes()
    {
        using var raw = new CpuBackend(2);
        using var wrapped = BackendFactory.Cpu(2);
        using var t = new HostTensors();
        var rng = new Random(5);
        var a = Enumerable.Range(0, 6 * 9).Select(_ => (float)rng.NextDouble() - 0.5f).ToArray();
        var b = Enumerable.Range(0, 9 * 7).Select(_ => (float)rng.NextDouble() - 0.5f).ToArray();
        var c1 = t.New(DType.F32, 6, 7);
        var c2 = t.New(DType.F32, 6, 7);
        raw.Gemm(t.F32(a, 6, 9), false, t.F32(b, 9, 7), false, c1);
        wrapped.Gemm(t.F32(a, 6, 9), false, t.F32(b, 9, 7), false, c2);
        Assert.Equal(c1.AsFloat().ToArray(), c2.AsFloat().ToArray());
        Assert.Same(BackendFactory.Find<CpuBackend>(wrapped), ((CheckedBackend)wrapped).Inner);
    }
}
