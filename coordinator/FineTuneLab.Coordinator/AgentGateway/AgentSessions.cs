using System.Collections.Concurrent;
using System.Threading.Channels;
using FineTuneLab.Shared.Protos.Agent.V1;

namespace FineTuneLab.Coordinator.AgentGateway;

/// <summary>The agents connected now, each with the queue of messages its session stream sends (acks, assignments, commands).</summary>
public sealed class AgentSessions
{
    private readonly ConcurrentDictionary<string, Channel<CoordinatorMessage>> _sessions = new(StringComparer.Ordinal);

    public IReadOnlySet<string> Connected => _sessions.Keys.ToHashSet(StringComparer.Ordinal);

    public bool IsConnected(string agentId) => _sessions.ContainsKey(agentId);

    /// <summary>Registers a session; a newer one replaces an older one of the same agent (whose queue completes).</summary>
    public Channel<CoordinatorMessage> Open(string agentId)
    {
        var channel = Channel.CreateUnbounded<CoordinatorMessage>(new UnboundedChannelOptions { SingleReader = true });
        _sessions.AddOrUpdate(agentId, channel, (_, old) => { old.Writer.TryComplete(); return channel; });
        return channel;
    }

    public void Close(string agentId, Channel<CoordinatorMessage> channel)
    {
        _sessions.TryRemove(new KeyValuePair<string, Channel<CoordinatorMessage>>(agentId, channel));
        channel.Writer.TryComplete();
    }

    /// <summary>Queues a message for an agent; false when the agent is not connected.</summary>
    public bool Send(string agentId, CoordinatorMessage message) =>
        _sessions.TryGetValue(agentId, out var c) && c.Writer.TryWrite(message);
}
