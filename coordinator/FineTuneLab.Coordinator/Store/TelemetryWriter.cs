using FineTuneLab.Coordinator.AgentGateway;
using FineTuneLab.Coordinator.Jobs;
using FineTuneLab.Shared.Protos.Agent.V1;
using Google.Protobuf;
using Google.Protobuf.Collections;
using Google.Protobuf.WellKnownTypes;
using Microsoft.Data.Sqlite;
using SQLitePCL;

namespace FineTuneLab.Coordinator.Store;

/// <summary>
/// The ingest's one connection to the store and its statements, prepared once and reused for the process's lifetime.
/// Used by the ingest's writer thread only. Telemetry points go in as multi-row inserts of <see cref="RowsPerInsert"/>
/// rows (the tail row by row); everything is <c>INSERT OR IGNORE</c> on (agent, seq), so a replay stores nothing twice.
/// </summary>
internal sealed class TelemetryWriter : IDisposable
{
    public const int RowsPerInsert = 64;
    // The agent id is bound once per statement (?1, shared by its rows); each row binds the other six columns.
    private const int PointColumns = 6;
    private const string PointInsert = "INSERT OR IGNORE INTO telemetry (agent_id, seq, job_id, at, gpu_index, metric, value) VALUES ";

    private readonly SqliteConnection _connection;
    private readonly RawStatement _begin, _commit, _rollback;
    private readonly RawStatement _pointRows, _point, _event, _log, _seq, _heartbeat, _commandAck;
    private readonly IIngestOrder _ids;
    private readonly JobRules _rules;
    private readonly JobFeedHub? _feed;
    private readonly AgentRefusals? _refusals;
    // One message's confinement reads, by job: its items mostly name one job, and nothing in one message changes its holder.
    private readonly Dictionary<string, JobHold?> _holds = new(StringComparer.Ordinal);

    public TelemetryWriter(CoordinatorStore store, IIngestOrder ids, JobRules rules, JobFeedHub? feed, AgentRefusals? refusals = null)
    {
        _ids = ids;
        _rules = rules;
        _feed = feed;
        _refusals = refusals;
        _connection = store.OpenConnection();
        try
        {
            var db = _connection.Handle!;
            // Commits need no fsync in WAL mode with synchronous=NORMAL (a power cut may lose the last commits, never
            // corrupt); a writer that finds another connection writing waits in SQLite rather than failing.
            Exec(db, "PRAGMA synchronous = NORMAL; PRAGMA cache_size = -32768;");
            raw.sqlite3_busy_timeout(db, 30_000);
            _begin = new(db, "BEGIN IMMEDIATE");
            _commit = new(db, "COMMIT");
            _rollback = new(db, "ROLLBACK");
            _pointRows = new(db, PointInsert + PointRows(RowsPerInsert));
            _point = new(db, PointInsert + PointRows(1));
            _event = new(db, "INSERT OR IGNORE INTO events (agent_id, seq, job_id, trainer_seq, type, json, at, ingest_id) VALUES (?,?,?,?,?,?,?,?)");
            _log = new(db, "INSERT OR IGNORE INTO logs (agent_id, seq, job_id, at, level, source, text, ingest_id) VALUES (?,?,?,?,?,?,?,?)");
            _seq = new(db, "UPDATE agents SET persisted_seq = MAX(persisted_seq, ?1), last_seen_at = ?2 WHERE id = ?3 RETURNING persisted_seq");
            _heartbeat = new(db, "UPDATE agents SET state = 'online', last_seen_at = ?1 WHERE id = ?2");
            _commandAck = new(db, "UPDATE agent_commands SET acked_at = ?1 WHERE id = ?2 AND agent_id = ?3 AND acked_at IS NULL");
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    public void Begin()
    {
        Forget();
        _begin.Execute();
    }

    /// <summary>Commits, then publishes what the transaction appended to the jobs' live feeds.</summary>
    public void Commit()
    {
        _commit.Execute();
        if (_feed is not null)
        {
            if (Appended.Count > 0) _feed.Publish(Appended);
            foreach (var job in Touched) _feed.Touch(job);
        }
        Forget();
    }

    private void Forget()
    {
        Appended.Clear();
        Touched.Clear();
    }

    public void Rollback()
    {
        Forget();
        // After some errors SQLite has already rolled back; a second rollback would only report that.
        if (raw.sqlite3_get_autocommit(_connection.Handle!) == 0) _rollback.Execute();
    }

    /// <summary>What one transaction appended to jobs' logs (published after its commit) and which jobs changed otherwise.</summary>
    public List<JobLogEntry> Appended { get; } = [];
    public HashSet<string> Touched { get; } = new(StringComparer.Ordinal);

    /// <summary>Records a heartbeat: the agent is online and seen now, and its job's uptime is billed (<see cref="JobProjection"/>).</summary>
    public void Heartbeat(string agentId, string currentJobId, double jobUptimeSeconds)
    {
        _heartbeat.Bind(1, Sql.Now());
        _heartbeat.Bind(2, agentId);
        _heartbeat.Execute();
        if (currentJobId.Length == 0) return;
        if (JobStore.Apply(_connection, currentJobId, new UptimeReported(agentId, jobUptimeSeconds, DateTime.UtcNow), _rules, _ids.Next, Appended)?.Billed is not null)
            Touched.Add(currentJobId);
    }

    /// <summary>
    /// Stores every item of one agent message that the agent may send for its job (<see cref="AgentConfinement"/>),
    /// its trainer events as the gateway typed them (<paramref name="events"/>); answers the agent's highest persisted
    /// seq afterwards (0 if it carried none), refused items included.
    /// </summary>
    public ulong Write(string agentId, AgentMessage m, IReadOnlyList<IncomingTrainerEvent> events)
    {
        ulong max = 0;
        _holds.Clear();
        switch (m.BodyCase)
        {
            case AgentMessage.BodyOneofCase.Telemetry:
                max = WritePoints(agentId, m.Telemetry.Points);
                foreach (var e in events)
                {
                    if (Refused(agentId, e.JobId, AgentAct.Event)) continue;
                    var (id, at) = (_ids.Next(), IsoText(e.At));
                    if (WriteEvent(agentId, e.Seq, e.JobId, e.TrainerSeq, e.Type, e.Json, at, id) != 1) continue;
                    Appended.Add(new JobLogEntry(id, e.JobId, e.Type, at, e.Json, e.Body));
                    // Steps and checkpoints move the pace the budget check reads from the job's row.
                    if (e.Body is FineTuneLab.Events.StepEvent or FineTuneLab.Events.CheckpointEvent)
                        JobStore.Apply(_connection, e.JobId, new TrainerReported(e.Body), _rules, _ids.Next, Appended);
                }
                // Events refused at the edge count as persisted too: sending them again cannot fix them.
                foreach (var e in m.Telemetry.Events) max = Math.Max(max, e.Seq);
                break;
            case AgentMessage.BodyOneofCase.Logs:
                foreach (var l in m.Logs.Lines)
                {
                    max = Math.Max(max, l.Seq);
                    if (l.JobId.Length > 0 && Refused(agentId, l.JobId, AgentAct.Log)) continue;
                    _log.Bind(1, agentId);
                    _log.Bind(2, (long)l.Seq);
                    _log.Bind(3, l.JobId.Length == 0 ? null : l.JobId);
                    _log.Bind(4, IsoText(l.At));
                    _log.Bind(5, FineTuneLab.Coordinator.AgentGateway.TelemetryIngest.LevelName(l.Level));
                    _log.Bind(6, l.Source);
                    _log.Bind(7, l.Text);
                    _log.Bind(8, _ids.Next());
                    if (_log.Execute() == 1 && l.JobId.Length > 0) Touched.Add(l.JobId);
                }
                break;
            case AgentMessage.BodyOneofCase.JobState:
                var s = m.JobState;
                max = s.Seq;
                if (Refused(agentId, s.JobId, AgentAct.StateReport)) break;
                // Apply a state change once: a replay of an already stored seq is skipped.
                if (WriteEvent(agentId, s.Seq, s.JobId, null, JobEvents.StateReport, JsonFormatter.Default.Format(s), IsoText(s.At), _ids.Next()) == 1)
                    Touched.Add(AgentReports.Apply(_connection, agentId, s, _rules, _ids.Next, Appended));
                break;
            case AgentMessage.BodyOneofCase.CommandAck:
                var ack = m.CommandAck;
                _commandAck.Bind(1, Sql.Now());
                _commandAck.Bind(2, (long)ack.CommandId);
                _commandAck.Bind(3, agentId);
                _commandAck.Execute();
                max = ack.Seq;
                break;
        }
        if (max == 0) return 0;
        _seq.Bind(1, (long)max);
        _seq.Bind(2, Sql.Now());
        _seq.Bind(3, agentId);
        return (ulong)(_seq.ExecuteScalarInt64() ?? throw new InvalidOperationException($"agent {agentId} is not registered"));
    }

    /// <summary><c>(?1,?2,…,?7),(?1,?8,…,?13),…</c>: the agent id first in every row, then six columns of the row's own.</summary>
    private static string PointRows(int rows) => string.Join(',', Enumerable.Range(0, rows).Select(r =>
        "(?1," + string.Join(',', Enumerable.Range(2 + r * PointColumns, PointColumns).Select(i => "?" + i)) + ")"));

    /// <summary>
    /// Whether <see cref="AgentConfinement"/> refuses the item (then counted and not stored; its seq still counts as
    /// persisted, so the agent does not send it forever).
    /// </summary>
    private bool Refused(string agentId, string jobId, AgentAct act)
    {
        if (!_holds.TryGetValue(jobId, out var hold)) _holds[jobId] = hold = JobHolds.Read(_connection, jobId);
        if (AgentConfinement.Refusal(agentId, jobId, hold, act) is not { } reason) return false;
        _refusals?.Refused(agentId, jobId, act, reason);
        return true;
    }

    private ulong WritePoints(string agentId, RepeatedField<TelemetryPoint> points)
    {
        // Points for a job the agent may not speak for are left out of the inserts (idle points, with no job, stay).
        RepeatedField<TelemetryPoint>? kept = null;
        ulong refusedMax = 0;
        for (var i = 0; i < points.Count; i++)
        {
            var p = points[i];
            if (p.JobId.Length > 0 && Refused(agentId, p.JobId, AgentAct.Telemetry))
            {
                if (kept is null)
                {
                    kept = [];
                    for (var k = 0; k < i; k++) kept.Add(points[k]);
                }
                refusedMax = Math.Max(refusedMax, p.Seq);
            }
            else kept?.Add(p);
        }
        return Math.Max(refusedMax, WriteKeptPoints(agentId, kept ?? points));
    }

    private ulong WriteKeptPoints(string agentId, RepeatedField<TelemetryPoint> points)
    {
        ulong max = 0;
        var i = 0;
        if (points.Count >= RowsPerInsert) _pointRows.Bind(1, agentId);
        for (; i + RowsPerInsert <= points.Count; i += RowsPerInsert)
        {
            for (var r = 0; r < RowsPerInsert; r++)
                max = Math.Max(max, BindPoint(_pointRows, 1 + r * PointColumns, points[i + r]));
            _pointRows.Execute();
        }
        if (i < points.Count) _point.Bind(1, agentId);
        for (; i < points.Count; i++)
        {
            max = Math.Max(max, BindPoint(_point, 1, points[i]));
            _point.Execute();
        }
        return max;
    }

    private static ulong BindPoint(RawStatement st, int offset, TelemetryPoint p)
    {
        st.Bind(offset + 1, (long)p.Seq);
        st.Bind(offset + 2, p.JobId.Length == 0 ? null : p.JobId);
        st.Bind(offset + 3, TelemetryTime.ToUnixMilliseconds(p.At));
        st.Bind(offset + 4, (long)p.GpuIndex);
        st.Bind(offset + 5, p.Metric);
        st.Bind(offset + 6, p.Value);
        return p.Seq;
    }

    private int WriteEvent(string agentId, ulong seq, string jobId, long? trainerSeq, string type, string json, string at, long ingestId)
    {
        _event.Bind(1, agentId);
        _event.Bind(2, (long)seq);
        _event.Bind(3, jobId);
        if (trainerSeq is { } t) _event.Bind(4, t); else _event.BindNull(4);
        _event.Bind(5, type);
        _event.Bind(6, json);
        _event.Bind(7, at);
        _event.Bind(8, ingestId);
        return _event.Execute();
    }

    /// <summary>Events and logs keep their ISO-8601 text timestamps (the REST feeds render them as stored).</summary>
    private static string IsoText(Timestamp? t) => IsoText(t?.ToDateTime());

    private static string IsoText(DateTime? t) => (t ?? DateTime.UtcNow).ToString("O", System.Globalization.CultureInfo.InvariantCulture);

    private static void Exec(sqlite3 db, string sql)
    {
        var rc = raw.sqlite3_exec(db, sql);
        if (rc != raw.SQLITE_OK) SqliteException.ThrowExceptionForRC(rc, db);
    }

    public void Dispose()
    {
        foreach (var st in new[] { _begin, _commit, _rollback, _pointRows, _point, _event, _log, _seq, _heartbeat, _commandAck })
            st?.Dispose();
        _connection.Dispose();
    }
}
