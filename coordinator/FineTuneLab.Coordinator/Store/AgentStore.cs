using System.Security.Cryptography;
using System.Text;
using FineTuneLab.Coordinator.Scheduling;
using FineTuneLab.Shared.Protos.Agent.V1;
using Google.Protobuf;
using Microsoft.Data.Sqlite;

namespace FineTuneLab.Coordinator.Store;

/// <summary>One row of the agents table.</summary>
public sealed record AgentRow(string Id, string Name, NodeInventory Inventory, double PricePerHour, string State,
    ulong PersistedSeq, string RegisteredAt, string? LastSeenAt, string? CurrentJobId);

/// <summary>The agents table: registration (tokens stored as SHA-256 only), liveness, and the scheduler's view.</summary>
public sealed class AgentStore(CoordinatorStore store)
{
    public static string HashToken(string token) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(token)));

    /// <summary>Registers a new agent, or re-registers a known one (same id, new token); answers (id, token).</summary>
    public (string Id, string Token) Register(string? existingId, string name, NodeInventory inventory)
    {
        var token = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));
        using var c = store.OpenConnection();
        var inventoryJson = JsonFormatter.Default.Format(inventory);
        if (!string.IsNullOrEmpty(existingId) && Sql.Scalar(c, "SELECT 1 FROM agents WHERE id = $id", ("$id", existingId)) is not null)
        {
            Sql.Execute(c, "UPDATE agents SET name = $n, token_hash = $t, inventory_json = $i, price_per_hour = $p WHERE id = $id",
                ("$n", name), ("$t", HashToken(token)), ("$i", inventoryJson), ("$p", inventory.PricePerHourUsd), ("$id", existingId));
            return (existingId, token);
        }
        var id = "agent_" + Guid.NewGuid().ToString("N")[..16];
        Sql.Execute(c, """
            INSERT INTO agents (id, name, token_hash, inventory_json, price_per_hour, state, registered_at)
            VALUES ($id, $n, $t, $i, $p, 'offline', $now)
            """, ("$id", id), ("$n", name), ("$t", HashToken(token)), ("$i", inventoryJson), ("$p", inventory.PricePerHourUsd), ("$now", Sql.Now()));
        return (id, token);
    }

    public bool Exists(string agentId)
    {
        using var c = store.OpenConnection();
        return Sql.Scalar(c, "SELECT 1 FROM agents WHERE id = $id", ("$id", agentId)) is not null;
    }

    public bool Authenticate(string agentId, string? token)
    {
        if (string.IsNullOrEmpty(token)) return false;
        using var c = store.OpenConnection();
        var hash = Sql.Scalar(c, "SELECT token_hash FROM agents WHERE id = $id", ("$id", agentId)) as string;
        return hash is not null && CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(hash), Encoding.ASCII.GetBytes(HashToken(token)));
    }

    public void Touch(string agentId, string state = "online")
    {
        using var c = store.OpenConnection();
        Sql.Execute(c, "UPDATE agents SET state = $s, last_seen_at = $now WHERE id = $id", ("$s", state), ("$now", Sql.Now()), ("$id", agentId));
    }

    public void SetState(string agentId, string state)
    {
        using var c = store.OpenConnection();
        Sql.Execute(c, "UPDATE agents SET state = $s WHERE id = $id", ("$s", state), ("$id", agentId));
    }

    public ulong PersistedSeq(string agentId)
    {
        using var c = store.OpenConnection();
        return Convert.ToUInt64(Sql.Scalar(c, "SELECT persisted_seq FROM agents WHERE id = $id", ("$id", agentId)) ?? 0L);
    }

    // Agents cannot reach a coordinator that is down: their silence counts only from when this one started.
    private readonly DateTime _startedAt = DateTime.UtcNow;

    /// <summary>
    /// Online agents whose last message is older than <paramref name="timeout"/>: marked lost and returned. Nobody is
    /// lost before the coordinator has itself been up for <paramref name="timeout"/>, so a restart that took longer
    /// than that (a slow start on a busy machine) does not re-queue the jobs of agents that are about to reconnect.
    /// </summary>
    public List<string> MarkLost(TimeSpan timeout)
    {
        if (DateTime.UtcNow - _startedAt < timeout) return [];
        using var c = store.OpenConnection();
        var cutoff = DateTime.UtcNow.Subtract(timeout).ToString("O", System.Globalization.CultureInfo.InvariantCulture);
        var lost = Sql.Query(c, "SELECT id FROM agents WHERE state = 'online' AND (last_seen_at IS NULL OR last_seen_at < $c)",
            r => r.GetString(0), ("$c", cutoff));
        foreach (var id in lost) Sql.Execute(c, "UPDATE agents SET state = 'lost' WHERE id = $id", ("$id", id));
        return lost;
    }

    public List<AgentRow> List()
    {
        using var c = store.OpenConnection();
        return Sql.Query(c, "SELECT id, name, inventory_json, price_per_hour, state, persisted_seq, registered_at, last_seen_at, current_job_id FROM agents ORDER BY registered_at",
            Read);
    }

    private static AgentRow Read(SqliteDataReader r) => new(r.GetString(0), r.GetString(1),
        NodeInventory.Parser.ParseJson(r.GetString(2)), r.GetDouble(3), r.GetString(4), (ulong)r.GetInt64(5), r.GetString(6),
        r.Str("last_seen_at"), r.Str("current_job_id"));

    /// <summary>The scheduler's view: online agents without a job (one job per agent: per GPU placement needs per-GPU tracking).</summary>
    /// <param name="asIfIdle">Count busy agents too, as if idle: where a job could run, not where it can start now.</param>
    public List<AgentCapacity> Capacities(IReadOnlySet<string> connected, bool asIfIdle = false)
    {
        return List().Where(a => a.State == "online" && connected.Contains(a.Id) && (asIfIdle || a.CurrentJobId is null)).Select(a =>
        {
            var gpus = a.Inventory.Gpus.Select(g => new FreeGpu((int)g.Index, g.Name, (long)g.MemoryTotalBytes, (long)g.MemoryTotalBytes)).ToList();
            return new AgentCapacity(a.Id, a.Name, a.PricePerHour, gpus, gpus.Count > 0, true, (long)(a.Inventory.Cpu?.MemoryTotalBytes ?? 0));
        }).ToList();
    }
}
