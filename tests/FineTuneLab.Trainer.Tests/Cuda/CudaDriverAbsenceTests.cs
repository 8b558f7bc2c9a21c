using FineTuneLab.TestSupport;
using FineTuneLab.Trainer.Backends.Cuda;
using FineTuneLab.Trainer.Backends.Cuda.Native;

namespace FineTuneLab.Trainer.Tests.Cuda;

/// <summary>CI machines have no NVIDIA driver: the CUDA path must say so clearly, not crash.</summary>
public sealed class CudaDriverAbsenceTests
{
    private static bool DriverPresent => NvidiaLibraries.TryLoad(NvidiaLibraries.Cuda, out _, out _);

    [Fact]
    public void Without_a_driver_the_device_query_names_the_library_and_the_way_out()
    {
        if (DriverPresent)
        {
            // On a GPU node the same call must describe at least one device instead.
            var info = CudaSystemInfo.Query();
            Assert.NotEmpty(info.Devices);
            return;
        }
        var e = Assert.Throws<NvidiaLibraryNotFoundException>(CudaSystemInfo.Query);
        Assert.Equal("libcuda.so.1 not found: no NVIDIA driver on this machine; run with --device cpu", e.Message);
    }

    [Fact]
    public async Task Gpu_info_command_exits_non_zero_with_the_message_when_there_is_no_driver()
    {
        var cli = Path.Combine(AppContext.BaseDirectory, "ftl-train.dll");
        var result = await ExternalProcess.RunAsync("dotnet", [cli, "gpu-info"]);
        if (DriverPresent)
        {
            Assert.Equal(0, result.ExitCode);
            Assert.Contains("compute ", result.StdOut);
            return;
        }
        Assert.Equal(1, result.ExitCode);
        Assert.Contains("libcuda.so.1 not found: no NVIDIA driver on this machine; run with --device cpu", result.StdErr);
        Assert.Equal("", result.StdOut);
    }

    [Fact]
    public void Versions_of_optional_libraries_read_as_text_either_way()
    {
        // NVRTC is installed in CI (libnvrtc11.2); cuBLAS is not: both answers must be printable, neither may throw.
        Assert.Matches(@"^\d+\.\d+ \(libnvrtc\.so\.[0-9.]+\)$", CudaSystemInfo.NvrtcVersionText());
        var cublas = CudaSystemInfo.CublasVersionText();
        Assert.Matches(@"^(\d+\.\d+\.\d+ \(libcublas\.so\.\d+\)|not found \(libcublas\.so\.12 / libcublas\.so\.11\))$", cublas);
    }
}
