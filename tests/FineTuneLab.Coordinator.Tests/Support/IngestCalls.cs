using FineTuneLab.Coordinator.AgentGateway;
using FineTuneLab.Coordinator.Jobs;
using FineTuneLab.Shared.Protos.Agent.V1;
using Microsoft.Extensions.Logging.Abstractions;

namespace FineTuneLab.Coordinator.Tests;

/// <summary>Blocking calls into the ingest for scenario tests that play an agent step by step: each returns once committed.</summary>
internal static class IngestCalls
{
    /// <summary>Persists the messages as the gateway does: trainer events typed at the edge first.</summary>
    public static ulong Persist(this TelemetryIngest ingest, string agentId, IReadOnlyList<AgentMessage> messages)
    {
        var session = new TelemetryIngest.Session(agentId);
        ulong persisted = 0;
        foreach (var m in messages) persisted = ingest.PersistAsync(session, m, IncomingEvents.Parse(agentId, m, NullLogger.Instance)).GetAwaiter().GetResult();
        return persisted;
    }

    public static void Heartbeat(this TelemetryIngest ingest, string agentId, string jobId, double jobUptimeSeconds) =>
        ingest.HeartbeatAsync(new TelemetryIngest.Session(agentId), jobId, jobUptimeSeconds).GetAwaiter().GetResult();
}
