using System.Diagnostics;
using FineTuneLab.Agent.Node;
using FineTuneLab.Shared.Protos.Agent.V1;

namespace FineTuneLab.Agent.Tests.Node;

public class NodeProbeTests
{
    [Fact]
    public void Inventory_reports_this_machine()
    {
        var dir = Path.GetTempPath();
        var inv = NodeInventoryProbe.Probe(dir, "local", 0.25, [new GpuInfo { Name = "NVIDIA L4", MemoryTotalBytes = 24UL << 30 }], "550.54");
        Assert.Equal((uint)Environment.ProcessorCount, inv.Cpu.LogicalCores);
        Assert.True(inv.Cpu.MemoryTotalBytes > 256UL << 20, "MemTotal from /proc/meminfo");
        Assert.False(string.IsNullOrWhiteSpace(inv.Cpu.Model));
        Assert.True(inv.DiskFreeBytes > 0);
        Assert.Equal(("local", 0.25, "550.54"), (inv.Provider, inv.PricePerHourUsd, inv.DriverVersion));
        Assert.Single(inv.Gpus);
    }

    [Fact]
    public async Task Host_sampler_reads_cpu_memory_disk_and_the_trainer_rss()
    {
        var sampler = new HostSampler(Path.GetTempPath());
        using var child = Process.Start(new ProcessStartInfo("/bin/sleep", "5"))!;
        try
        {
            // Burn a little CPU between two samples so the utilization delta is defined.
            var until = DateTime.UtcNow.AddMilliseconds(150);
            while (DateTime.UtcNow < until) { }
            await Task.Delay(50);
            var points = sampler.Sample(DateTimeOffset.UtcNow, "job-1", child.Id).ToDictionary(p => p.Metric);
            Assert.InRange(points["host.cpu.util"].Value, 0.0, 100.0);
            Assert.True(points["host.mem.available"].Value > 0);
            Assert.True(points["host.disk.free"].Value > 0);
            Assert.True(points["trainer.rss"].Value > 0);
            Assert.All(points.Values, p => Assert.Equal(("job-1", -1), (p.JobId, p.GpuIndex)));
        }
        finally { child.Kill(); }
    }
}
