using FineTuneLab.Coordinator.Store;
using FineTuneLab.Shared.Protos.Agent.V1;

namespace FineTuneLab.Coordinator.AgentGateway;

/// <summary>
/// Stop / pause / resume / cancel orders for a job's agent, delivered at least once: each is stored (table
/// <c>agent_commands</c>) before it is sent, sent now when the agent is connected, and sent again, in the order issued,
/// at every session start until the agent acks it (<c>CommandAck</c> through its outbox, stored by the ingest).
/// The agent applies a command id once, so a re-sent command changes nothing twice.
/// </summary>
public sealed class AgentCommands(CoordinatorStore store, AgentSessions sessions)
{
    /// <summary>Stores the command and sends it if the agent is connected; answers whether it went out now.</summary>
    public bool Issue(string agentId, string jobId, CommandKind kind, string reason)
    {
        long id;
        using (var c = store.OpenConnection())
            id = (long)Sql.Scalar(c, """
                INSERT INTO agent_commands (agent_id, job_id, kind, reason, created_at) VALUES ($a, $j, $k, $r, $now) RETURNING id
                """, ("$a", agentId), ("$j", jobId), ("$k", Name(kind)), ("$r", reason), ("$now", Sql.Now()))!;
        return sessions.Send(agentId, Message(id, jobId, kind, reason));
    }

    /// <summary>Sends every command the agent has not acked yet, oldest first (at the start of its session); answers how many.</summary>
    public int SendPending(string agentId)
    {
        List<CoordinatorMessage> pending;
        using (var c = store.OpenConnection())
            pending = Sql.Query(c, "SELECT id, job_id, kind, reason FROM agent_commands WHERE agent_id = $a AND acked_at IS NULL ORDER BY id",
                r => Message(r.GetInt64(0), r.GetString(1), Kind(r.GetString(2)), r.GetString(3)), ("$a", agentId));
        foreach (var m in pending) sessions.Send(agentId, m);
        return pending.Count;
    }

    /// <summary>The commands of a job not yet acked by its agent (kind names, oldest first).</summary>
    public List<string> Pending(string jobId)
    {
        using var c = store.OpenConnection();
        return Sql.Query(c, "SELECT kind FROM agent_commands WHERE job_id = $j AND acked_at IS NULL ORDER BY id", r => r.GetString(0), ("$j", jobId));
    }

    private static CoordinatorMessage Message(long id, string jobId, CommandKind kind, string reason) =>
        new() { Command = new JobCommand { CommandId = (ulong)id, JobId = jobId, Kind = kind, Reason = reason } };

    private static string Name(CommandKind kind) => kind switch
    {
        CommandKind.Stop => "stop",
        CommandKind.Pause => "pause",
        CommandKind.Resume => "resume",
        CommandKind.Cancel => "cancel",
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "not a command"),
    };

    private static CommandKind Kind(string name) => name switch
    {
        "stop" => CommandKind.Stop,
        "pause" => CommandKind.Pause,
        "resume" => CommandKind.Resume,
        "cancel" => CommandKind.Cancel,
        _ => throw new InvalidDataException($"agent_commands.kind '{name}' is not a command"),
    };
}
