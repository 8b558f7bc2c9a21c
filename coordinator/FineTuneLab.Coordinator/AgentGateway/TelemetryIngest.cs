using FineTuneLab.Coordinator.Jobs;
using FineTuneLab.Coordinator.Store;
using FineTuneLab.Shared.Protos.Agent.V1;
using Google.Protobuf.WellKnownTypes;
using Microsoft.Data.Sqlite;

namespace FineTuneLab.Coordinator.AgentGateway;

/// <summary>
/// Persists what agents send (telemetry points, trainer events, log lines, job state changes) in one transaction per
/// message with prepared statements; idempotent by (agent, seq) so a replayed outbox item is ignored. The agent's
/// persisted sequence number advances in the same transaction, so the ack it gets back is exactly what is on disk.
/// </summary>
public sealed class TelemetryIngest
{
    private readonly CoordinatorStore _store;
    private long _ingestId;

    public TelemetryIngest(CoordinatorStore store)
    {
        _store = store;
        using var c = store.OpenConnection();
        _ingestId = Math.Max(Convert.ToInt64(Sql.Scalar(c, "SELECT COALESCE(MAX(ingest_id), 0) FROM events") ?? 0L),
            Convert.ToInt64(Sql.Scalar(c, "SELECT COALESCE(MAX(ingest_id), 0) FROM logs") ?? 0L));
    }

    /// <summary>Stores every item of the messages; answers the agent's highest persisted sequence number afterwards.</summary>
    public ulong Persist(string agentId, IReadOnlyList<AgentMessage> messages)
    {
        using var c = _store.OpenConnection();
        using var tx = c.BeginTransaction();
        using var point = Prepare(c, tx, "INSERT OR IGNORE INTO telemetry (agent_id, seq, job_id, at, gpu_index, metric, value) VALUES ($a, $s, $j, $at, $g, $m, $v)",
            "$a", "$s", "$j", "$at", "$g", "$m", "$v");
        using var ev = Prepare(c, tx, "INSERT OR IGNORE INTO events (agent_id, seq, job_id, trainer_seq, type, json, at, ingest_id) VALUES ($a, $s, $j, $ts, $t, $js, $at, $i)",
            "$a", "$s", "$j", "$ts", "$t", "$js", "$at", "$i");
        using var log = Prepare(c, tx, "INSERT OR IGNORE INTO logs (agent_id, seq, job_id, at, level, source, text, ingest_id) VALUES ($a, $s, $j, $at, $l, $src, $txt, $i)",
            "$a", "$s", "$j", "$at", "$l", "$src", "$txt", "$i");
        ulong max = 0;
        foreach (var m in messages)
        {
            switch (m.BodyCase)
            {
                case AgentMessage.BodyOneofCase.Telemetry:
                    foreach (var p in m.Telemetry.Points)
                    {
                        Run(point, agentId, (long)p.Seq, NullIfEmpty(p.JobId), At(p.At), p.GpuIndex, p.Metric, p.Value);
                        max = Math.Max(max, p.Seq);
                    }
                    foreach (var e in m.Telemetry.Events)
                    {
                        Run(ev, agentId, (long)e.Seq, e.JobId, (long)e.TrainerSeq, e.Type, e.Json, At(e.At), Interlocked.Increment(ref _ingestId));
                        max = Math.Max(max, e.Seq);
                    }
                    break;
                case AgentMessage.BodyOneofCase.Logs:
                    foreach (var l in m.Logs.Lines)
                    {
                        Run(log, agentId, (long)l.Seq, NullIfEmpty(l.JobId), At(l.At), LevelName(l.Level), l.Source, l.Text, Interlocked.Increment(ref _ingestId));
                        max = Math.Max(max, l.Seq);
                    }
                    break;
                case AgentMessage.BodyOneofCase.JobState:
                    var s = m.JobState;
                    var json = Google.Protobuf.JsonFormatter.Default.Format(s);
                    // Apply a state change once: a replay of an already stored seq is skipped.
                    if (Run(ev, agentId, (long)s.Seq, s.JobId, null, "state", json, At(s.At), Interlocked.Increment(ref _ingestId)) == 1)
                        JobStore.ApplyAgentState(c, agentId, s);
                    max = Math.Max(max, s.Seq);
                    break;
            }
        }
        var persisted = max;
        if (max > 0)
        {
            using var seq = c.CreateCommand();
            seq.Transaction = tx;
            seq.CommandText = "UPDATE agents SET persisted_seq = MAX(persisted_seq, $s), last_seen_at = $now WHERE id = $a RETURNING persisted_seq";
            seq.Parameters.AddWithValue("$s", (long)max);
            seq.Parameters.AddWithValue("$now", Sql.Now());
            seq.Parameters.AddWithValue("$a", agentId);
            persisted = Convert.ToUInt64(seq.ExecuteScalar());
        }
        tx.Commit();
        return persisted;
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

    private static int Run(SqliteCommand cmd, params object?[] values)
    {
        for (var i = 0; i < values.Length; i++) cmd.Parameters[i].Value = values[i] ?? DBNull.Value;
        return cmd.ExecuteNonQuery();
    }

    private static string? NullIfEmpty(string s) => s.Length == 0 ? null : s;

    private static string At(Timestamp? t) =>
        (t ?? Timestamp.FromDateTime(DateTime.UtcNow)).ToDateTime().ToString("O", System.Globalization.CultureInfo.InvariantCulture);

    public static string LevelName(FineTuneLab.Shared.Protos.Agent.V1.LogLevel level) => level switch
    {
        FineTuneLab.Shared.Protos.Agent.V1.LogLevel.Debug => "debug",
        FineTuneLab.Shared.Protos.Agent.V1.LogLevel.Warning => "warning",
        FineTuneLab.Shared.Protos.Agent.V1.LogLevel.Error => "error",
        _ => "info",
    };
}
