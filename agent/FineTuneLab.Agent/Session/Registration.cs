using System.Text.Json;
using FineTuneLab.Agent.Node;
using FineTuneLab.Shared.Protos.Agent.V1;
using Microsoft.Extensions.Logging;

namespace FineTuneLab.Agent.Session;

/// <summary>Registers the node (its inventory) and keeps the identity the coordinator gave it in <c>DATA/identity.json</c>, so a restarted agent stays the same agent.</summary>
public sealed class Registration(AgentOptions options, AgentCredentials credentials, ILogger log)
{
    public async Task RegisterAsync(AgentChannel channel, IReadOnlyList<GpuInfo> gpus, CancellationToken cancellationToken)
    {
        string? knownId = File.Exists(options.IdentityFile)
            ? JsonDocument.Parse(File.ReadAllText(options.IdentityFile)).RootElement.GetProperty("agent_id").GetString() : null;
        var inventory = NodeInventoryProbe.Probe(options.DataDir, options.Provider, options.PricePerHour, gpus, null);
        var response = await channel.Client.RegisterAsync(new RegisterRequest { Name = options.Name, Inventory = inventory, AgentId = knownId ?? "" },
            deadline: DateTime.UtcNow.AddSeconds(15), cancellationToken: cancellationToken);
        credentials.Registered(response.AgentId, response.AgentToken);
        var tmp = options.IdentityFile + ".tmp";
        File.WriteAllText(tmp, JsonSerializer.Serialize(new { agent_id = response.AgentId }));
        File.Move(tmp, options.IdentityFile, overwrite: true);
        log.LogInformation("registered with {Coordinator} as {Id}", options.Coordinator, response.AgentId);
    }
}
