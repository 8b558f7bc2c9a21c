namespace FineTuneLab.Agent.Nvml;

/// <summary>
/// One GPU at one instant. A reading NVML could not give is null, and <see cref="Unavailable"/> says why
/// (reading name → NVML status), so a GPU without, say, a power sensor still reports everything else.
/// </summary>
public sealed record GpuSample(
    int Index,
    string Uuid,
    string Name,
    DateTimeOffset Time,
    uint? GpuUtilizationPercent,
    uint? MemoryUtilizationPercent,
    ulong? MemoryUsedBytes,
    ulong? MemoryTotalBytes,
    uint? TemperatureC,
    double? PowerWatts,
    double? PowerLimitWatts,
    uint? SmClockMHz,
    NvmlThrottleReasons? ThrottleReasons,
    IReadOnlyDictionary<string, NvmlReturn> Unavailable)
{
    /// <summary>Reads every value separately from <paramref name="device"/>.</summary>
    public static GpuSample Read(INvmlDeviceReader device, int index, DateTimeOffset time)
    {
        var unavailable = new Dictionary<string, NvmlReturn>(StringComparer.Ordinal);
        T? Take<T>(string what, NvmlReading<T> reading)
        {
            if (!reading.Ok)
                unavailable[what] = reading.Status;
            return reading.Value;
        }
        var uuid = Take("uuid", device.Uuid());
        var name = Take("name", device.Name());
        var utilization = device.Utilization();
        Take("utilization", utilization);
        var memory = device.Memory();
        Take("memory", memory);
        var temperature = device.TemperatureC();
        var power = device.PowerMilliwatts();
        var powerLimit = device.PowerLimitMilliwatts();
        var smClock = device.SmClockMHz();
        var throttle = device.ThrottleReasons();
        Take("temperature", temperature);
        Take("power", power);
        Take("power_limit", powerLimit);
        Take("sm_clock", smClock);
        Take("throttle_reasons", throttle);
        return new GpuSample(
            index, uuid ?? "", name ?? "", time,
            utilization.Ok ? utilization.Value.Gpu : null,
            utilization.Ok ? utilization.Value.Memory : null,
            memory.Ok ? memory.Value.Used : null,
            memory.Ok ? memory.Value.Total : null,
            temperature.Ok ? temperature.Value : null,
            power.Ok ? power.Value / 1000.0 : null,
            powerLimit.Ok ? powerLimit.Value / 1000.0 : null,
            smClock.Ok ? smClock.Value : null,
            throttle.Ok ? throttle.Value : null,
            unavailable);
    }
}

/// <summary>Every GPU of the node at one tick, or the reason there are none (<see cref="State"/> ≠ Available).</summary>
public sealed record NvmlSnapshot(DateTimeOffset Time, NvmlState State, string Message, IReadOnlyList<GpuSample> Gpus);
