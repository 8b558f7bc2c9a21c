using System.Reflection;
using System.Runtime.InteropServices;
using FineTuneLab.Shared.Protos.Agent.V1;

namespace FineTuneLab.Agent.Node;

/// <summary>What this node offers, as sent at registration: CPU, memory, disk, GPUs (from NVML), provider and price.</summary>
public static class NodeInventoryProbe
{
    public static NodeInventory Probe(string dataDirectory, string provider, double pricePerHour,
        IEnumerable<GpuInfo> gpus, string? driverVersion)
    {
        var inventory = new NodeInventory
        {
            Hostname = Environment.MachineName,
            Cpu = new CpuInfo
            {
                Model = CpuModel(),
                LogicalCores = (uint)Environment.ProcessorCount,
                MemoryTotalBytes = (ulong)Math.Max(0, ProcFs.MemInfoBytes("MemTotal") ?? 0),
            },
            DiskFreeBytes = (ulong)DiskFreeBytes(dataDirectory),
            Provider = provider,
            PricePerHourUsd = pricePerHour,
            DriverVersion = driverVersion ?? "",
            AgentVersion = typeof(NodeInventoryProbe).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "",
            Os = RuntimeInformation.OSDescription,
        };
        inventory.Gpus.AddRange(gpus);
        return inventory;
    }

    public static long DiskFreeBytes(string path)
    {
        Directory.CreateDirectory(path);
        return new DriveInfo(Path.GetFullPath(path)).AvailableFreeSpace;
    }

    private static string CpuModel()
    {
        foreach (var line in ProcFs.ReadLines("/proc/cpuinfo"))
        {
            if (line.StartsWith("model name", StringComparison.Ordinal))
                return line[(line.IndexOf(':') + 1)..].Trim();
        }
        return RuntimeInformation.ProcessArchitecture.ToString();
    }
}
