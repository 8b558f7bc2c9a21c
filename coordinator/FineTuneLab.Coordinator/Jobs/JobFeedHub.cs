using System.Collections.Concurrent;
using System.Threading.Channels;

namespace FineTuneLab.Coordinator.Jobs;

/// <summary>
/// The live side of the job's log: whoever commits entries (the ingest's writer, a <see cref="JobStore"/>
/// transition) publishes them here right after the commit, and every subscriber of the job receives them (a
/// broadcast per job). A subscriber that falls too far behind is told so and reads the log again, which stays the
/// replay source (<c>Last-Event-ID</c>). A job whose row or log lines changed without a new entry (billing, logs) is
/// touched, which wakes its subscribers with nothing to send.
/// </summary>
public sealed class JobFeedHub
{
    private readonly ConcurrentDictionary<string, ConcurrentDictionary<Subscription, byte>> _subscribers = new(StringComparer.Ordinal);

    /// <summary>Subscribe before reading the log: nothing committed after the read is then missed.</summary>
    public Subscription Subscribe(string jobId)
    {
        var s = new Subscription(this, jobId);
        _subscribers.GetOrAdd(jobId, _ => new()).TryAdd(s, 0);
        return s;
    }

    /// <summary>Hands committed entries to their jobs' subscribers, in the order given.</summary>
    public void Publish(IReadOnlyList<JobLogEntry> entries)
    {
        foreach (var e in entries)
            if (_subscribers.TryGetValue(e.JobId, out var subs))
                foreach (var s in subs.Keys) s.Offer(e);
    }

    /// <summary>Wakes the job's subscribers: its state, cost or log lines changed.</summary>
    public void Touch(string jobId)
    {
        if (_subscribers.TryGetValue(jobId, out var subs))
            foreach (var s in subs.Keys) s.Offer(null);
    }

    private void Remove(Subscription s)
    {
        if (_subscribers.TryGetValue(s.JobId, out var subs)) subs.TryRemove(s, out _);
    }

    /// <summary>One reader of a job's live entries; dispose it when the reader leaves.</summary>
    public sealed class Subscription(JobFeedHub hub, string jobId) : IDisposable
    {
        private const int Capacity = 4096;
        private readonly Channel<JobLogEntry?> _channel = Channel.CreateBounded<JobLogEntry?>(
            new BoundedChannelOptions(Capacity) { SingleReader = true, FullMode = BoundedChannelFullMode.Wait });
        private volatile bool _overflowed;

        public string JobId { get; } = jobId;

        /// <summary>Whether entries were dropped since the last call (the reader must read the log again); resets it.</summary>
        public bool TakeOverflow()
        {
            var o = _overflowed;
            _overflowed = false;
            return o;
        }

        internal void Offer(JobLogEntry? e)
        {
            // A publisher never waits on a slow reader: the reader catches up from the log instead.
            if (!_channel.Writer.TryWrite(e)) _overflowed = true;
        }

        /// <summary>Waits until something was published (or <paramref name="max"/> passed), then answers all entries queued by then (touches left out).</summary>
        public async Task<List<JobLogEntry>> NextAsync(TimeSpan max, CancellationToken cancellationToken)
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(max);
            try { await _channel.Reader.WaitToReadAsync(timeout.Token); }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested) { }
            var list = new List<JobLogEntry>();
            while (_channel.Reader.TryRead(out var e))
                if (e is not null) list.Add(e);
            return list;
        }

        public void Dispose() => hub.Remove(this);
    }
}
