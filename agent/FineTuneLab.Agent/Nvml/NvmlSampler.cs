using System.Runtime.CompilerServices;

namespace FineTuneLab.Agent.Nvml;

/// <summary>
/// Samples every GPU of the node at a fixed interval (1 s by default). On a node without an NVIDIA driver (or with
/// NVML unable to start) the stream yields one snapshot whose <see cref="NvmlSnapshot.State"/> says why, then ends:
/// the agent reports "no GPU" and carries on.
/// </summary>
public sealed class NvmlSampler
{
    public static readonly TimeSpan DefaultInterval = TimeSpan.FromSeconds(1);

    /// <summary>What the sampler reads from: the GPUs (none when unavailable), why, and what to dispose afterwards.</summary>
    internal sealed record Source(IReadOnlyList<INvmlDeviceReader> Devices, NvmlState State, string Message, IDisposable? Lifetime);

    private readonly TimeSpan _interval;
    private readonly Func<Source> _open;
    private readonly TimeProvider _time;

    /// <param name="interval">Time between samples (default 1 s).</param>
    /// <param name="libraryPath">An explicit libnvidia-ml.so.1 (default: FTL_NVML_LIBRARY, then the system's).</param>
    public NvmlSampler(TimeSpan? interval = null, string? libraryPath = null, TimeProvider? timeProvider = null)
        : this(interval ?? DefaultInterval, () => OpenNvml(libraryPath), timeProvider ?? TimeProvider.System)
    {
    }

    internal NvmlSampler(TimeSpan interval, Func<Source> open, TimeProvider timeProvider)
    {
        if (interval <= TimeSpan.Zero)
            throw new ArgumentOutOfRangeException(nameof(interval), interval, "the sampling interval must be positive");
        _interval = interval;
        _open = open;
        _time = timeProvider;
    }

    public TimeSpan Interval => _interval;

    public async IAsyncEnumerable<NvmlSnapshot> SampleAsync([EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var source = _open();
        using var lifetime = source.Lifetime;
        if (source.State != NvmlState.Available)
        {
            yield return new NvmlSnapshot(_time.GetUtcNow(), source.State, source.Message, []);
            yield break;
        }
        using var timer = new PeriodicTimer(_interval, _time);
        while (!cancellationToken.IsCancellationRequested)
        {
            yield return Sample(source);
            if (!await WaitForTickAsync(timer, cancellationToken))
                yield break;
        }
    }

    /// <summary>The callback form of <see cref="SampleAsync"/>; returns when cancelled or when there is nothing to sample.</summary>
    public async Task RunAsync(Func<NvmlSnapshot, CancellationToken, ValueTask> onSnapshot, CancellationToken cancellationToken = default)
    {
        await foreach (var snapshot in SampleAsync(cancellationToken))
            await onSnapshot(snapshot, cancellationToken);
    }

    private NvmlSnapshot Sample(Source source)
    {
        var now = _time.GetUtcNow();
        var gpus = new GpuSample[source.Devices.Count];
        for (var i = 0; i < gpus.Length; i++)
            gpus[i] = GpuSample.Read(source.Devices[i], i, now);
        return new NvmlSnapshot(now, NvmlState.Available, source.Message, gpus);
    }

    private static Source OpenNvml(string? libraryPath)
    {
        var open = NvmlSession.Open(libraryPath);
        return open.Session is { } session
            ? new Source(session.Devices, open.State, open.Message, session)
            : new Source([], open.State, open.Message, null);
    }

    private static async ValueTask<bool> WaitForTickAsync(PeriodicTimer timer, CancellationToken cancellationToken)
    {
        try
        {
            return await timer.WaitForNextTickAsync(cancellationToken);
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }
}
