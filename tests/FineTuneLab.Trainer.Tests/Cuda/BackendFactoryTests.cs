using FineTuneLab.TestSupport;
using FineTuneLab.Trainer.Backends;
using FineTuneLab.Trainer.Backends.Cpu;
using FineTuneLab.Trainer.Backends.Cuda;
using FineTuneLab.Trainer.Backends.Cuda.Native;
using FineTuneLab.Trainer.Backends.Cuda.SelfTest;

namespace FineTuneLab.Trainer.Tests.Cuda;

/// <summary>--device cpu|cuda|auto and the paths taken when CUDA cannot start (every CI machine).</summary>
public sealed class BackendFactoryTests
{
    private static bool DriverPresent => NvidiaLibraries.TryLoad(NvidiaLibraries.Cuda, out _, out _);
    private static void NoGpu() => throw new CudaUnavailableException("CUDA backend unavailable: libcuda.so.1 not found: test");

    [Theory]
    [InlineData(null, DeviceChoice.Auto)]
    [InlineData("auto", DeviceChoice.Auto)]
    [InlineData("CPU", DeviceChoice.Cpu)]
    [InlineData("cuda", DeviceChoice.Cuda)]
    [InlineData("gpu", DeviceChoice.Cuda)]
    public void Device_names_parse(string? text, DeviceChoice expected) => Assert.Equal(expected, BackendFactory.Parse(text));

    [Fact]
    public void An_unknown_device_name_is_an_error_naming_the_choices()
    {
        var e = Assert.Throws<ArgumentException>(() => BackendFactory.Parse("tpu"));
        Assert.Equal("--device 'tpu' is not one of cpu, cuda, auto", e.Message);
    }

    [Fact]
    public void Auto_without_cuda_falls_back_to_the_cpu_and_says_why()
    {
        var log = new List<string>();
        using var backend = BackendFactory.Create(DeviceChoice.Auto, 1, log.Add, NoGpu);
        Assert.IsType<CheckedBackend>(backend);
        Assert.IsType<CpuBackend>(BackendFactory.Find<CpuBackend>(backend));
        Assert.Null(BackendFactory.Find<CudaBackend>(backend));
        Assert.Equal("device auto: using the CPU backend (CUDA backend unavailable: libcuda.so.1 not found: test)", Assert.Single(log));
    }

    [Fact]
    public void Cuda_without_cuda_is_an_error_and_cpu_never_probes()
    {
        var e = Assert.Throws<CudaUnavailableException>(() => BackendFactory.Create(DeviceChoice.Cuda, 1, _ => { }, NoGpu));
        Assert.Contains("libcuda.so.1 not found", e.Message);
        using var cpu = BackendFactory.Create(DeviceChoice.Cpu, 1, _ => { }, () => throw new InvalidOperationException("probed"));
        Assert.Equal("cpu", cpu.Name);
    }

    [Fact]
    public void The_real_probe_on_a_machine_without_a_driver_names_the_library_and_the_way_out()
    {
        if (DriverPresent) return; // a GPU node: the self-test covers this path
        var e = Assert.Throws<CudaUnavailableException>(() => CudaBackend.Probe());
        Assert.Equal("CUDA backend unavailable: libcuda.so.1 not found: no NVIDIA driver on this machine; run with --device cpu", e.Message);
        var log = new List<string>();
        using var backend = BackendFactory.Create("auto", 1, log.Add);
        Assert.Equal("cpu", backend.Name);
        Assert.Single(log);
    }

    [Fact]
    public void Self_test_without_a_gpu_prints_why_and_exits_2()
    {
        var output = new StringWriter();
        Assert.Equal(GpuSelfTest.ExitNoGpu, GpuSelfTest.Run(output, NoGpu));
        Assert.Contains("gpu-selftest: CUDA backend unavailable: libcuda.so.1 not found: test", output.ToString());
        Assert.Contains("nothing was tested (exit 2)", output.ToString());
    }

    [Fact]
    public async Task Cli_gpu_selftest_and_bench_device_cuda_exit_2_without_a_driver()
    {
        if (DriverPresent) return;
        var cli = Path.Combine(AppContext.BaseDirectory, "ftl-train.dll");
        var selftest = await ExternalProcess.RunAsync("dotnet", [cli, "gpu-selftest"]);
        Assert.Equal(2, selftest.ExitCode);
        Assert.Contains("libcuda.so.1 not found: no NVIDIA driver on this machine; run with --device cpu", selftest.StdOut);
        var bench = await ExternalProcess.RunAsync("dotnet", [cli, "bench", "--preset", "tiny", "--device", "cuda"]);
        Assert.Equal(2, bench.ExitCode);
        Assert.Contains("bench: CUDA backend unavailable: libcuda.so.1 not found", bench.StdErr);
    }
}
