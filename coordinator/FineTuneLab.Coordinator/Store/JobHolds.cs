using FineTuneLab.Coordinator.AgentGateway;
using Microsoft.Data.Sqlite;

namespace FineTuneLab.Coordinator.Store;

/// <summary>The reads <see cref="AgentConfinement"/> decides from: who holds a job (or ran it last) and what it already has.</summary>
internal static class JobHolds
{
    /// <summary>
    /// The job's state, its agent and its adapter; for an ended job whose row names no agent (an agent's final report
    /// clears it), the agent that stored its last event (with the gateway's confinement, the one that held it).
    /// </summary>
    public static JobHold? Read(SqliteConnection c, string jobId) => Sql.Query(c, """
        SELECT j.state, j.agent_id, j.adapter_sha256,
               CASE WHEN j.agent_id IS NULL AND j.state IN ('succeeded','failed','stopped','cancelled') THEN
                    (SELECT e.agent_id FROM events e WHERE e.job_id = j.id AND e.agent_id <> '' ORDER BY e.ingest_id DESC LIMIT 1) END
        FROM jobs j WHERE j.id = $id
        """, r => new JobHold(r.GetString(0), r.IsDBNull(1) ? null : r.GetString(1), r.IsDBNull(3) ? null : r.GetString(3),
            r.IsDBNull(2) ? null : r.GetString(2)), ("$id", jobId)).FirstOrDefault();

    /// <summary>The SHA-256 of the job's checkpoint for <paramref name="step"/>, if it has one.</summary>
    public static string? CheckpointAt(SqliteConnection c, string jobId, long step) =>
        Sql.Scalar(c, "SELECT sha256 FROM checkpoints WHERE job_id = $j AND step = $s", ("$j", jobId), ("$s", step)) as string;
}
