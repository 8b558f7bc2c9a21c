namespace FineTuneLab.Coordinator.Store;

/// <summary>A stored command for an agent: its id (the agent applies an id once), job, kind name and reason.</summary>
public sealed record CommandRow(long Id, string JobId, string Kind, string Reason);

/// <summary>The agent_commands table: commands stored before they are sent, until the agent acks them (the ingest stores the acks).</summary>
public static class CommandRows
{
    /// <summary>Stores a command; answers its id.</summary>
    public static long Insert(CoordinatorStore store, string agentId, string jobId, string kind, string reason)
    {
        using var c = store.OpenConnection();
        return (long)Sql.Scalar(c, """
            INSERT INTO agent_commands (agent_id, job_id, kind, reason, created_at) VALUES ($a, $j, $k, $r, $now) RETURNING id
            """, ("$a", agentId), ("$j", jobId), ("$k", kind), ("$r", reason), ("$now", Sql.Now()))!;
    }

    /// <summary>The agent's commands not acked yet, oldest first.</summary>
    public static List<CommandRow> PendingFor(CoordinatorStore store, string agentId)
    {
        using var c = store.OpenConnection();
        return Sql.Query(c, "SELECT id, job_id, kind, reason FROM agent_commands WHERE agent_id = $a AND acked_at IS NULL ORDER BY id",
            r => new CommandRow(r.GetInt64(0), r.GetString(1), r.GetString(2), r.GetString(3)), ("$a", agentId));
    }

    /// <summary>The kinds of a job's commands not acked yet, oldest first.</summary>
    public static List<string> PendingKinds(CoordinatorStore store, string jobId)
    {
        using var c = store.OpenConnection();
        return Sql.Query(c, "SELECT kind FROM agent_commands WHERE job_id = $j AND acked_at IS NULL ORDER BY id", r => r.GetString(0), ("$j", jobId));
    }
}
