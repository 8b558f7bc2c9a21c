using System.Threading.Channels;
using FineTuneLab.Coordinator.Jobs;
using FineTuneLab.Coordinator.Store;
using FineTuneLab.Shared.Protos.Agent.V1;

namespace FineTuneLab.Coordinator.AgentGateway;

/// <summary>
/// Persists what agents send (telemetry points, trainer events, log lines, job state changes, command acks,
/// heartbeats); idempotent by (agent, seq) so a replayed outbox item is ignored. Sessions queue their messages on one
/// channel; a single writer thread drains it and stores everything queued by then, from all sessions, in one
/// transaction through one connection whose statements are prepared once (<see cref="TelemetryWriter"/>). Each
/// message's answer (the agent's highest persisted sequence number, advanced in that same transaction) completes only
/// after the commit, so an ack never runs ahead of the disk. The writer runs from <see cref="Start"/> (in the host:
/// <see cref="TelemetryIngestService"/>, once the store is open) until <see cref="Dispose"/> has stored what was queued.
/// </summary>
public sealed class TelemetryIngest : IIngestOrder, IDisposable
{
    // Bounds one transaction, so a flood of queued work still commits (and acks) in steady steps.
    private const int MaxItemsPerCommit = 50_000;
    private readonly Channel<Work> _queue = Channel.CreateUnbounded<Work>(new UnboundedChannelOptions { SingleReader = true });
    private readonly TelemetryWriter _writer;
    private readonly Thread _thread;
    private int _started;
    // The feeds' cursor: shared by the writer thread and the coordinator's own events (job transitions, alerts).
    private long _ingestId;

    public TelemetryIngest(CoordinatorStore store, JobRules? rules = null, JobFeedHub? feed = null, AgentRefusals? refusals = null)
    {
        _ingestId = EventRows.LastId(store, andLogs: true);
        _writer = new TelemetryWriter(store, this, rules ?? JobRules.Default, feed, refusals);
        // A thread of its own: the writer is busy for whole transactions and must not take the thread pool's workers.
        _thread = new Thread(WriteLoop) { IsBackground = true, Name = "telemetry-ingest" };
    }

    /// <summary>Starts the writer thread (once); messages queued before are stored then.</summary>
    public void Start()
    {
        if (Interlocked.Exchange(ref _started, 1) == 0) _thread.Start();
    }

    /// <summary>The next ingest id, for an event or log line about to be stored (<see cref="JobEvents.Append"/>).</summary>
    public long Next() => Interlocked.Increment(ref _ingestId);

    /// <summary>A session's handle: once one of its messages fails, its later ones are refused too, so the agent's acked seq never skips past a lost item.</summary>
    public sealed class Session(string agentId)
    {
        public string AgentId { get; } = agentId;
        internal volatile Exception? Failure;
    }

    /// <summary>Stores every item of the message; completes with the agent's highest persisted sequence number once committed.</summary>
    public Task<ulong> PersistAsync(Session session, AgentMessage message, IReadOnlyList<IncomingTrainerEvent>? events = null)
    {
        if (events is null && message.Telemetry?.Events.Count > 0) throw new ArgumentException("trainer events must be typed at the edge (IncomingEvents.Parse)", nameof(events));
        var work = new Work(session, message, null, 0) { Events = events ?? [] };
        if (!_queue.Writer.TryWrite(work)) throw new ObjectDisposedException(nameof(TelemetryIngest));
        return work.Done.Task;
    }

    /// <summary>Records a heartbeat (agent online, last seen now, the job's uptime) through the same writer.</summary>
    public Task HeartbeatAsync(Session session, string currentJobId, double jobUptimeSeconds)
    {
        var work = new Work(session, null, currentJobId, jobUptimeSeconds);
        if (!_queue.Writer.TryWrite(work)) throw new ObjectDisposedException(nameof(TelemetryIngest));
        return work.Done.Task;
    }

    private void WriteLoop()
    {
        var group = new List<Work>();
        var reader = _queue.Reader;
        while (true)
        {
            if (!reader.TryPeek(out _))
            {
                var more = reader.WaitToReadAsync().AsTask().GetAwaiter().GetResult();
                if (!more) break;
            }
            var items = 0;
            while (items < MaxItemsPerCommit && reader.TryRead(out var w))
            {
                group.Add(w);
                items += w.ItemCount;
            }
            CommitGroup(group);
            group.Clear();
        }
        _writer.Dispose();
    }

    private void CommitGroup(List<Work> group)
    {
        try
        {
            _writer.Begin();
            try
            {
                foreach (var w in group)
                {
                    if (w.Session.Failure is { } failed) throw new SessionFailedException(failed);
                    w.Persisted = Write(w);
                }
                _writer.Commit();
            }
            catch
            {
                _writer.Rollback();
                throw;
            }
        }
        catch (Exception) when (group.Count > 1)
        {
            // One bad item must not fail the others: each alone, so only the culprit (and what its session sent after it) fails.
            foreach (var w in group) CommitAlone(w);
            return;
        }
        catch (Exception e)
        {
            Fail(group[0], e);
            return;
        }
        foreach (var w in group) w.Done.TrySetResult(w.Persisted);
    }

    private void CommitAlone(Work w)
    {
        if (w.Session.Failure is { } failed) { w.Done.TrySetException(new SessionFailedException(failed)); return; }
        try
        {
            _writer.Begin();
            try
            {
                w.Persisted = Write(w);
                _writer.Commit();
            }
            catch
            {
                _writer.Rollback();
                throw;
            }
            w.Done.TrySetResult(w.Persisted);
        }
        catch (Exception e)
        {
            Fail(w, e);
        }
    }

    private static void Fail(Work w, Exception e)
    {
        if (w.Message is not null) w.Session.Failure ??= e;
        w.Done.TrySetException(e);
    }

    private ulong Write(Work w)
    {
        if (w.Message is null)
        {
            _writer.Heartbeat(w.Session.AgentId, w.HeartbeatJobId!, w.HeartbeatUptime);
            return 0;
        }
        return _writer.Write(w.Session.AgentId, w.Message, w.Events);
    }

    public static string LevelName(FineTuneLab.Shared.Protos.Agent.V1.LogLevel level) => level switch
    {
        FineTuneLab.Shared.Protos.Agent.V1.LogLevel.Debug => "debug",
        FineTuneLab.Shared.Protos.Agent.V1.LogLevel.Warning => "warning",
        FineTuneLab.Shared.Protos.Agent.V1.LogLevel.Error => "error",
        _ => "info",
    };

    /// <summary>Stops taking work, stores what is queued, and closes the writer's connection.</summary>
    public void Dispose()
    {
        _queue.Writer.TryComplete();
        // A writer never started has nothing stored to finish: it only closes its connection (once).
        if (Interlocked.Exchange(ref _started, 2) == 0)
        {
            while (_queue.Reader.TryRead(out var w)) w.Done.TrySetException(new ObjectDisposedException(nameof(TelemetryIngest)));
            _writer.Dispose();
        }
        else if (_thread.IsAlive) _thread.Join();
    }

    /// <summary>One queued message or heartbeat and, once committed, its answer.</summary>
    private sealed class Work(Session session, AgentMessage? message, string? heartbeatJobId, double heartbeatUptime)
    {
        public Session Session { get; } = session;
        /// <summary>Null for a heartbeat.</summary>
        public AgentMessage? Message { get; } = message;
        public string? HeartbeatJobId { get; } = heartbeatJobId;
        public IReadOnlyList<IncomingTrainerEvent> Events { get; init; } = [];
        public double HeartbeatUptime { get; } = heartbeatUptime;
        public ulong Persisted { get; set; }
        // Continuations run on the thread pool, never on the writer thread.
        public TaskCompletionSource<ulong> Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public int ItemCount => Message?.BodyCase switch
        {
            AgentMessage.BodyOneofCase.Telemetry => Message.Telemetry.Points.Count + Message.Telemetry.Events.Count,
            AgentMessage.BodyOneofCase.Logs => Message.Logs.Lines.Count,
            _ => 1,
        };
    }
}

/// <summary>A message refused because an earlier message of the same session failed to persist.</summary>
public sealed class SessionFailedException(Exception cause)
    : Exception($"an earlier message of this session failed to persist: {cause.Message}", cause);
