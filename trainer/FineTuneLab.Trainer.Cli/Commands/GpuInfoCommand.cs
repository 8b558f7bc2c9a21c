using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using FineTuneLab.Trainer.Backends.Cuda;

namespace FineTuneLab.Trainer.Cli.Commands;

/// <summary>ftl-train gpu-info: what the CUDA backend would run on, or why it cannot (exit 1).</summary>
internal static class GpuInfoCommand
{
    public static Command Create()
    {
        var json = new Option<bool>("--json") { Description = "Print one JSON object instead of text" };
        var command = new Command("gpu-info", "Show the NVIDIA driver, NVRTC and cuBLAS versions and each GPU's name, memory and compute capability");
        command.Options.Add(json);
        command.SetAction(parseResult => Run(parseResult.GetValue(json)));
        return command;
    }

    private static int Run(bool json)
    {
        CudaSystemInfo info;
        try
        {
            info = CudaSystemInfo.Query();
        }
        catch (Exception e) when (e is DllNotFoundException or CudaException)
        {
            Console.Error.WriteLine($"ftl-train gpu-info: {e.Message}");
            return 1;
        }
        if (info.Devices.Count == 0)
        {
            Console.Error.WriteLine("ftl-train gpu-info: the NVIDIA driver reports no GPU; run with --device cpu");
            return 1;
        }
        if (json)
        {
            Console.WriteLine(JsonSerializer.Serialize(info, new JsonSerializerOptions { WriteIndented = true }));
            return 0;
        }
        var inv = CultureInfo.InvariantCulture;
        Console.WriteLine($"driver  CUDA {CudaSystemInfo.FormatCudaVersion(info.DriverVersion)} ({info.DriverLibrary})");
        Console.WriteLine($"nvrtc   {info.NvrtcVersion}");
        Console.WriteLine($"cublas  {info.CublasVersion}");
        foreach (var d in info.Devices)
        {
            Console.WriteLine(string.Create(inv,
                $"gpu {d.Ordinal}   {d.Name}  {d.Uuid}  compute {d.ComputeCapability} ({d.ComputeCapability.SmName})  " +
                $"memory {d.TotalMemoryBytes / 1048576.0:F0} MiB ({d.FreeMemoryBytes / 1048576.0:F0} MiB free)  " +
                $"{d.MultiprocessorCount} SMs  L2 {d.L2CacheBytes / 1024} KiB  shared/block {d.MaxSharedMemoryPerBlockOptInBytes / 1024} KiB"));
        }
        return 0;
    }
}
