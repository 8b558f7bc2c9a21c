using FineTuneLab.Agent.Nvml;

namespace FineTuneLab.Agent.Tests.Nvml;

/// <summary>The sampling loop and per-reading isolation, with scripted GPUs (CI has none).</summary>
public sealed class NvmlSamplerTests
{
    private sealed class ScriptedGpu(string uuid, NvmlReturn temperature = NvmlReturn.NVML_SUCCESS, NvmlReturn power = NvmlReturn.NVML_SUCCESS) : INvmlDeviceReader
    {
        public int Reads;
        public NvmlReading<string> Name() => NvmlReading<string>.Success("NVIDIA H100 80GB HBM3");
        public NvmlReading<string> Uuid() => NvmlReading<string>.Success(uuid);
        public NvmlReading<(ulong Used, ulong Total)> Memory() { Reads++; return NvmlReading<(ulong, ulong)>.Success((1UL << 30, 80UL << 30)); }
        public NvmlReading<(uint Gpu, uint Memory)> Utilization() => NvmlReading<(uint, uint)>.Success((97, 41));
        public NvmlReading<uint> TemperatureC() => temperature == NvmlReturn.NVML_SUCCESS ? NvmlReading<uint>.Success(63) : NvmlReading<uint>.Failure(temperature);
        public NvmlReading<uint> PowerMilliwatts() => power == NvmlReturn.NVML_SUCCESS ? NvmlReading<uint>.Success(612_500) : NvmlReading<uint>.Failure(power);
        public NvmlReading<uint> PowerLimitMilliwatts() => NvmlReading<uint>.Success(700_000);
        public NvmlReading<uint> SmClockMHz() => NvmlReading<uint>.Success(1980);
        public NvmlReading<NvmlThrottleReasons> ThrottleReasons() =>
            NvmlReading<NvmlThrottleReasons>.Success(NvmlThrottleReasons.nvmlClocksThrottleReasonSwPowerCap);
        public NvmlReading<(int Major, int Minor)> ComputeCapability() => NvmlReading<(int, int)>.Success((9, 0));
    }

    private sealed class Lifetime : IDisposable
    {
        public bool Disposed;
        public void Dispose() => Disposed = true;
    }

    [Fact]
    public void One_unsupported_reading_does_not_hide_the_others()
    {
        var gpu = new ScriptedGpu("GPU-1", temperature: NvmlReturn.NVML_ERROR_NOT_SUPPORTED, power: NvmlReturn.NVML_ERROR_NO_PERMISSION);
        var time = DateTimeOffset.Parse("2026-11-21T22:00:00Z", System.Globalization.CultureInfo.InvariantCulture);
        var sample = GpuSample.Read(gpu, 0, time);
        Assert.Null(sample.TemperatureC);
        Assert.Null(sample.PowerWatts);
        Assert.Equal(NvmlReturn.NVML_ERROR_NOT_SUPPORTED, sample.Unavailable["temperature"]);
        Assert.Equal(NvmlReturn.NVML_ERROR_NO_PERMISSION, sample.Unavailable["power"]);
        Assert.Equal(2, sample.Unavailable.Count);
        Assert.Equal(97u, sample.GpuUtilizationPercent);
        Assert.Equal(41u, sample.MemoryUtilizationPercent);
        Assert.Equal(1UL << 30, sample.MemoryUsedBytes);
        Assert.Equal(80UL << 30, sample.MemoryTotalBytes);
        Assert.Equal(700.0, sample.PowerLimitWatts);
        Assert.Equal(1980u, sample.SmClockMHz);
        Assert.Equal(NvmlThrottleReasons.nvmlClocksThrottleReasonSwPowerCap, sample.ThrottleReasons);
        Assert.Equal("GPU-1", sample.Uuid);
        Assert.Equal(time, sample.Time);
    }

    [Fact]
    public async Task Sampler_yields_every_gpu_each_tick_until_cancelled_then_releases_nvml()
    {
        var gpus = new[] { new ScriptedGpu("GPU-a"), new ScriptedGpu("GPU-b", temperature: NvmlReturn.NVML_ERROR_NOT_SUPPORTED) };
        var lifetime = new Lifetime();
        var sampler = new NvmlSampler(TimeSpan.FromMilliseconds(20),
            () => new NvmlSampler.Source(gpus, NvmlState.Available, "2 GPU(s)", lifetime), TimeProvider.System);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var snapshots = new List<NvmlSnapshot>();
        await foreach (var snapshot in sampler.SampleAsync(cts.Token))
        {
            snapshots.Add(snapshot);
            if (snapshots.Count == 3)
                await cts.CancelAsync();
        }
        Assert.Equal(3, snapshots.Count);
        Assert.True(lifetime.Disposed);
        Assert.All(snapshots, s => Assert.Equal(["GPU-a", "GPU-b"], s.Gpus.Select(g => g.Uuid)));
        Assert.All(snapshots, s => Assert.Equal(612.5, s.Gpus[0].PowerWatts));
        Assert.All(snapshots, s => Assert.Null(s.Gpus[1].TemperatureC));
        Assert.True(snapshots[1].Time > snapshots[0].Time && snapshots[2].Time > snapshots[1].Time);
        Assert.Equal(3, gpus[0].Reads);
    }

    [Fact]
    public async Task Callback_form_sees_the_no_gpu_state_and_returns()
    {
        var sampler = new NvmlSampler(TimeSpan.FromSeconds(1),
            () => new NvmlSampler.Source([], NvmlState.NoDriverLibrary, "libnvidia-ml.so.1 not found: no NVIDIA driver on this machine (NVML ships with it)", null),
            TimeProvider.System);
        var seen = new List<NvmlSnapshot>();
        await sampler.RunAsync((s, _) => { seen.Add(s); return ValueTask.CompletedTask; });
        var only = Assert.Single(seen);
        Assert.Equal(NvmlState.NoDriverLibrary, only.State);
        Assert.Empty(only.Gpus);
    }

    [Fact]
    public void Interval_must_be_positive() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => new NvmlSampler(TimeSpan.Zero, () => throw new InvalidOperationException(), TimeProvider.System));
}
