using System.Collections.Concurrent;
using System.Globalization;
using FineTuneLab.Coordinator.Jobs;
using FineTuneLab.Coordinator.Store;
using FineTuneLab.Shared.Protos.Agent.V1;
using Google.Protobuf.WellKnownTypes;
using Microsoft.Data.Sqlite;

namespace FineTuneLab.Coordinator.AgentGateway;

/// <summary>
/// Persists what agents send (telemetry points, trainer events, log lines, job state changes, heartbeats);
/// idempotent by (agent, seq) so a replayed outbox item is ignored. Writes are group-committed: every caller queues
/// its work, and whichever caller holds the writer lock stores everything queued by then, from all sessions, in one
/// transaction with one set of prepared statements. A caller's answer (the agent's highest persisted sequence number,
/// advanced in that same transaction) is handed back only after the commit, so an ack never runs ahead of the disk.
/// </summary>
public sealed class TelemetryIngest : IIngestOrder
{
    private readonly CoordinatorStore _store;
    private readonly ConcurrentQueue<Work> _pending = new();
    private readonly object _writer = new();
    private long _ingestId;

    public TelemetryIngest(CoordinatorStore store)
    {
        _store = store;
        using var c = store.OpenConnection();
        _ingestId = Math.Max(Convert.ToInt64(Sql.Scalar(c, "SELECT COALESCE(MAX(ingest_id), 0) FROM events") ?? 0L),
            Convert.ToInt64(Sql.Scalar(c, "SELECT COALESCE(MAX(ingest_id), 0) FROM logs") ?? 0L));
    }

    /// <summary>The next ingest id, for an event the coordinator records itself (<see cref="JobEvents.Append"/>).</summary>
    public long Next() => Interlocked.Increment(ref _ingestId);

    /// <summary>Stores every item of the messages; answers the agent's highest persisted sequence number afterwards.</summary>
    public ulong Persist(string agentId, IReadOnlyList<AgentMessage> messages) =>
        Submit(new Work(agentId, messages, null, 0));

    /// <summary>Records a heartbeat (agent online, last seen now, the job's uptime) through the same writer.</summary>
    public void Heartbeat(string agentId, string currentJobId, double jobUptimeSeconds) =>
        Submit(new Work(agentId, [], currentJobId, jobUptimeSeconds));

    private ulong Submit(Work work)
    {
        _pending.Enqueue(work);
        // Whoever gets the lock first commits everything queued so far; the others find their work already done.
        lock (_writer)
        {
            if (!work.Done) CommitPendingLocked();
        }
        return work.Error is null ? work.Persisted : throw work.Error;
    }

    private void CommitPendingLocked()
    {
        var group = new List<Work>();
        while (_pending.TryDequeue(out var w)) group.Add(w);
        try
        {
            using var c = _store.OpenConnection();
            try
            {
                Commit(c, group);
            }
            catch (Exception) when (group.Count > 1)
            {
                // One bad item must not fail the others: retry each alone, so only the culprit sees the error.
                foreach (var w in group)
                {
                    try { Commit(c, [w]); }
                    catch (Exception e) { w.Error = e; w.Done = true; }
                }
            }
        }
        catch (Exception e)
        {
            // Every dequeued item must end done, or its caller would answer without having been stored.
            foreach (var w in group.Where(w => !w.Done)) { w.Error = e; w.Done = true; }
        }
    }

    private void Commit(SqliteConnection c, List<Work> group)
    {
        using var tx = c.BeginTransaction();
        using var statements = new Statements(c, tx);
        foreach (var w in group) w.Persisted = Write(statements, c, w);
        tx.Commit();
        foreach (var w in group) w.Done = true;
    }

    private ulong Write(Statements st, SqliteConnection c, Work w)
    {
        var agentId = w.AgentId;
        if (w.HeartbeatJobId is not null)
        {
            Run(st.Heartbeat, "online", Sql.Now(), agentId);
            if (w.HeartbeatJobId.Length > 0) CostLedger.Accrue(c, agentId, w.HeartbeatJobId, w.HeartbeatUptime, DateTime.UtcNow);
            return 0;
        }
        ulong max = 0;
        foreach (var m in w.Messages)
        {
            switch (m.BodyCase)
            {
                case AgentMessage.BodyOneofCase.Telemetry:
                    foreach (var p in m.Telemetry.Points)
                    {
                        BindPoint(st.Point.Parameters, agentId, p, st.At(p.At));
                        st.Point.ExecuteNonQuery();
                        max = Math.Max(max, p.Seq);
                    }
                    foreach (var e in m.Telemetry.Events)
                    {
                        Run(st.Event, agentId, (long)e.Seq, e.JobId, (long)e.TrainerSeq, e.Type, e.Json, st.At(e.At), Interlocked.Increment(ref _ingestId));
                        max = Math.Max(max, e.Seq);
                    }
                    break;
                case AgentMessage.BodyOneofCase.Logs:
                    foreach (var l in m.Logs.Lines)
                    {
                        Run(st.Log, agentId, (long)l.Seq, NullIfEmpty(l.JobId), st.At(l.At), LevelName(l.Level), l.Source, l.Text, Interlocked.Increment(ref _ingestId));
                        max = Math.Max(max, l.Seq);
                    }
                    break;
                case AgentMessage.BodyOneofCase.JobState:
                    var s = m.JobState;
                    var json = Google.Protobuf.JsonFormatter.Default.Format(s);
                    // Apply a state change once: a replay of an already stored seq is skipped.
                    if (Run(st.Event, agentId, (long)s.Seq, s.JobId, null, "state", json, st.At(s.At), Interlocked.Increment(ref _ingestId)) == 1)
                        JobStore.ApplyAgentState(c, agentId, s);
                    max = Math.Max(max, s.Seq);
                    break;
            }
        }
        if (max == 0) return 0;
        st.Seq.Parameters[0].Value = (long)max;
        st.Seq.Parameters[1].Value = Sql.Now();
        st.Seq.Parameters[2].Value = agentId;
        return Convert.ToUInt64(st.Seq.ExecuteScalar(), CultureInfo.InvariantCulture);
    }

    // The hot path: parameters set in place, no argument array per point.
    private static void BindPoint(SqliteParameterCollection ps, string agentId, TelemetryPoint p, string at)
    {
        ps[0].Value = agentId;
        ps[1].Value = (long)p.Seq;
        ps[2].Value = p.JobId.Length == 0 ? DBNull.Value : p.JobId;
        ps[3].Value = at;
        ps[4].Value = p.GpuIndex;
        ps[5].Value = p.Metric;
        ps[6].Value = p.Value;
    }

    private static int Run(SqliteCommand cmd, params object?[] values)
    {
        for (var i = 0; i < values.Length; i++) cmd.Parameters[i].Value = values[i] ?? DBNull.Value;
        return cmd.ExecuteNonQuery();
    }

    private static string? NullIfEmpty(string s) => s.Length == 0 ? null : s;

    public static string LevelName(FineTuneLab.Shared.Protos.Agent.V1.LogLevel level) => level switch
    {
        FineTuneLab.Shared.Protos.Agent.V1.LogLevel.Debug => "debug",
        FineTuneLab.Shared.Protos.Agent.V1.LogLevel.Warning => "warning",
        FineTuneLab.Shared.Protos.Agent.V1.LogLevel.Error => "error",
        _ => "info",
    };

    /// <summary>One caller's queued write and, once committed, its answer.</summary>
    private sealed class Work(string agentId, IReadOnlyList<AgentMessage> messages, string? heartbeatJobId, double heartbeatUptime)
    {
        public string AgentId { get; } = agentId;
        public IReadOnlyList<AgentMessage> Messages { get; } = messages;
        /// <summary>Non-null for a heartbeat ("" when no job runs).</summary>
        public string? HeartbeatJobId { get; } = heartbeatJobId;
        public double HeartbeatUptime { get; } = heartbeatUptime;
        public ulong Persisted { get; set; }
        public Exception? Error { get; set; }
        // Written and read under the writer lock only.
        public bool Done { get; set; }
    }

    /// <summary>The prepared statements of one group commit, reused (parameters rebound) for every item in it.</summary>
    private sealed class Statements(SqliteConnection c, SqliteTransaction tx) : IDisposable
    {
        public SqliteCommand Point { get; } = Prepare(c, tx, "INSERT OR IGNORE INTO telemetry (agent_id, seq, job_id, at, gpu_index, metric, value) VALUES ($a, $s, $j, $at, $g, $m, $v)",
            "$a", "$s", "$j", "$at", "$g", "$m", "$v");
        public SqliteCommand Event { get; } = Prepare(c, tx, "INSERT OR IGNORE INTO events (agent_id, seq, job_id, trainer_seq, type, json, at, ingest_id) VALUES ($a, $s, $j, $ts, $t, $js, $at, $i)",
            "$a", "$s", "$j", "$ts", "$t", "$js", "$at", "$i");
        public SqliteCommand Log { get; } = Prepare(c, tx, "INSERT OR IGNORE INTO logs (agent_id, seq, job_id, at, level, source, text, ingest_id) VALUES ($a, $s, $j, $at, $l, $src, $txt, $i)",
            "$a", "$s", "$j", "$at", "$l", "$src", "$txt", "$i");
        public SqliteCommand Seq { get; } = Prepare(c, tx, "UPDATE agents SET persisted_seq = MAX(persisted_seq, $s), last_seen_at = $now WHERE id = $a RETURNING persisted_seq",
            "$s", "$now", "$a");
        public SqliteCommand Heartbeat { get; } = Prepare(c, tx, "UPDATE agents SET state = $s, last_seen_at = $now WHERE id = $a", "$s", "$now", "$a");

        private Timestamp? _lastAt;
        private string _lastAtText = "";

        /// <summary>The stored text of a timestamp; batches mostly repeat one, so the last one's formatting is reused.</summary>
        public string At(Timestamp? t)
        {
            if (t is null) return DateTime.UtcNow.ToString("O", CultureInfo.InvariantCulture);
            if (_lastAt is null || _lastAt.Seconds != t.Seconds || _lastAt.Nanos != t.Nanos)
            {
                _lastAtText = t.ToDateTime().ToString("O", CultureInfo.InvariantCulture);
                _lastAt = t.Clone();
            }
            return _lastAtText;
        }

        public void Dispose()
        {
            Point.Dispose(); Event.Dispose(); Log.Dispose(); Seq.Dispose(); Heartbeat.Dispose();
        }

        private static SqliteCommand Prepare(SqliteConnection c, SqliteTransaction tx, string sql, params string[] names)
        {
            var cmd = c.CreateCommand();
            cmd.Transaction = tx;
            cmd.CommandText = sql;
            foreach (var n in names) cmd.Parameters.Add(new SqliteParameter { ParameterName = n });
            cmd.Prepare();
            return cmd;
        }
    }
}
