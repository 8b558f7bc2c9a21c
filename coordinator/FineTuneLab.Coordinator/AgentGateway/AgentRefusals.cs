using System.Collections.Concurrent;

namespace FineTuneLab.Coordinator.AgentGateway;

/// <summary>
/// What <see cref="AgentConfinement"/> refused, by agent and kind (<c>ftl_agent_refused_total</c> in <c>/metrics</c>),
/// with a warning logged once per agent, job and kind: a rogue or confused agent that keeps sending gets counted, not
/// a log line per item.
/// </summary>
public sealed class AgentRefusals(ILogger log)
{
    private readonly ConcurrentDictionary<(string Agent, string Kind), long> _counts = new();
    private readonly ConcurrentDictionary<(string Agent, string Job, string Kind), byte> _warned = new();

    public static string KindName(AgentAct act) => act switch
    {
        AgentAct.Event => "event",
        AgentAct.Log => "log",
        AgentAct.Telemetry => "telemetry",
        AgentAct.StateReport => "state_report",
        AgentAct.Upload => "upload",
        _ => throw new ArgumentOutOfRangeException(nameof(act), act, null),
    };

    public void Refused(string agentId, string jobId, AgentAct act, string reason)
    {
        var kind = KindName(act);
        _counts.AddOrUpdate((agentId, kind), 1, (_, n) => n + 1);
        if (_warned.TryAdd((agentId, jobId, kind), 0))
            log.LogWarning("agent {Agent}: {Kind} for job {Job} refused: {Reason} (further ones are only counted)", agentId, kind, jobId, reason);
    }

    /// <summary>The counts so far, by agent and kind.</summary>
    public IReadOnlyList<(string Agent, string Kind, long Count)> Counts() =>
        _counts.OrderBy(p => p.Key.Agent, StringComparer.Ordinal).ThenBy(p => p.Key.Kind, StringComparer.Ordinal)
            .Select(p => (p.Key.Agent, p.Key.Kind, p.Value)).ToList();
}
