using System.Threading.Channels;
using Grpc.Health.V1;
using ServingStatus = Grpc.Health.V1.HealthCheckResponse.Types.ServingStatus;

namespace FineTuneLab.Shared.Grpc.Health;

/// <summary>
/// The serving status of each service name ("" = the whole server), which <see cref="HealthService"/> reports and
/// whose changes Watch streams. Thread-safe.
/// </summary>
public sealed class HealthStatusRegistry
{
    private readonly Lock _gate = new();
    private readonly Dictionary<string, ServingStatus> _statuses = new(StringComparer.Ordinal);
    private readonly List<(string Service, Channel<ServingStatus> Channel)> _watchers = [];

    /// <summary>The status of <paramref name="service"/>, or null if nobody registered it.</summary>
    public ServingStatus? Get(string service)
    {
        lock (_gate)
            return _statuses.TryGetValue(service, out var s) ? s : null;
    }

    public void Set(string service, ServingStatus status)
    {
        lock (_gate)
        {
            if (_statuses.TryGetValue(service, out var old) && old == status)
                return;
            _statuses[service] = status;
            foreach (var (name, channel) in _watchers)
            {
                if (name == service)
                    channel.Writer.TryWrite(status);
            }
        }
    }

    /// <summary>Sets every registered service (and the server, "") to <paramref name="status"/>, e.g. NOT_SERVING at shutdown.</summary>
    public void SetAll(ServingStatus status)
    {
        List<string> services;
        lock (_gate)
            services = _statuses.Keys.Append("").Distinct().ToList();
        foreach (var service in services)
            Set(service, status);
    }

    /// <summary>The current status (SERVICE_UNKNOWN when unregistered), then every change, until cancelled.</summary>
    public async IAsyncEnumerable<ServingStatus> WatchAsync(string service,
        [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
    {
        // Only the latest status matters to a watcher that fell behind.
        var channel = Channel.CreateBounded<ServingStatus>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropOldest });
        var entry = (service, channel);
        lock (_gate)
        {
            channel.Writer.TryWrite(_statuses.TryGetValue(service, out var s) ? s : ServingStatus.ServiceUnknown);
            _watchers.Add(entry);
        }
        try
        {
            var last = (ServingStatus?)null;
            while (true)
            {
                ServingStatus status;
                var stopped = false;
                try
                {
                    status = await channel.Reader.ReadAsync(cancellationToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    // Stopping: still deliver a change made just before (NOT_SERVING at shutdown), then end.
                    if (!channel.Reader.TryRead(out status))
                        yield break;
                    stopped = true;
                }
                if (status != last)
                {
                    last = status;
                    yield return status;
                }
                if (stopped)
                    yield break;
            }
        }
        finally
        {
            lock (_gate)
                _watchers.Remove(entry);
        }
    }
}
