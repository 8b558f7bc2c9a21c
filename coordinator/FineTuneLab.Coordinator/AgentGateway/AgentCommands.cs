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
        var id = CommandRows.Insert(store, agentId, jobId, Name(kind), reason);
        return sessions.Send(agentId, Message(id, jobId, kind, reason));
    }

    /// <summary>Sends every command the agent has not acked yet, oldest first (at the start of its session); answers how many.</summary>
    public int SendPending(string agentId)
    {
        var pending = CommandRows.PendingFor(store, agentId).Select(r => Message(r.Id, r.JobId, Kind(r.Kind), r.Reason)).ToList();
        foreach (var m in pending) sessions.Send(agentId, m);
        return pending.Count;
    }

    /// <summary>The commands of a job not yet acked by its agent (kind names, oldest first).</summary>
    public List<string> Pending(string jobId) => CommandRows.PendingKinds(store, jobId);

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
