using FineTuneLab.Coordinator.Jobs;
using FineTuneLab.Shared.Protos.Agent.V1;
using Microsoft.Data.Sqlite;

namespace FineTuneLab.Coordinator.Store;

/// <summary>An agent's job state report, inside the ingest's transaction: the raw facts in, <see cref="JobProjection"/>'s outcome written.</summary>
internal static class AgentReports
{
    /// <summary>
    /// Applies an agent's state report (<see cref="JobProjection"/> decides) and rewrites its stored row as the event
    /// the projection made of it: a <c>state</c> event when it moved the job, a <c>state_report</c> with what it was
    /// ignored for otherwise; so each transition appears once in the log.
    /// </summary>
    /// <returns>The job's id.</returns>
    public static string Apply(SqliteConnection c, string agentId, JobStateChange s, JobRules rules, Func<long> next, List<JobLogEntry> published)
    {
        var at = s.At is { } t ? Min(t.ToDateTime(), DateTime.UtcNow) : DateTime.UtcNow;
        var to = s.State == JobState.Unspecified ? null : JobStates.FromProto(s.State);
        var lastCheckpoint = to == JobStates.Failed ? JobRows.LastCheckpoint(c, s.JobId) : null;
        var report = new AgentReported(agentId, to, s.Reason, s.ExitCode, s.Signal, s.ErrorMessage, s.StackTrace, s.JobUptimeS, at, lastCheckpoint);
        var appended = new List<JobLogEntry>();
        var p = JobStore.Apply(c, s.JobId, report, rules, next, appended);
        var said = p?.Report ?? new StateChanged(null, to, s.Reason.Length == 0 ? null : s.Reason, "agent")
            { AgentId = agentId, JobUptimeS = s.JobUptimeS, Ignored = "no such job" };
        var (json, stamp) = (said.ToJson(), (s.At?.ToDateTime() ?? DateTime.UtcNow).ToString("O", System.Globalization.CultureInfo.InvariantCulture));
        var id = Convert.ToInt64(Sql.Scalar(c, "UPDATE events SET type = $t, json = $js WHERE agent_id = $a AND seq = $s RETURNING ingest_id",
            ("$t", said.Type), ("$js", json), ("$a", agentId), ("$s", (long)s.Seq)));
        published.Add(new JobLogEntry(id, s.JobId, said.Type, stamp, json, said));
        published.AddRange(appended);
        return s.JobId;
    }

    private static DateTime Min(DateTime a, DateTime b) => a < b ? a : b;
}
