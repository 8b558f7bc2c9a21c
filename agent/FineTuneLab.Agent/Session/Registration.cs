using Grpc.Core;
using System.Text.Json;
using FineTuneLab.Agent.Node;
using FineTuneLab.Shared.Protos.Agent.V1;
using Microsoft.Extensions.Logging;

namespace FineTuneLab.Agent.Session;

/// <summary>
/// Registers the node (its inventory) and keeps the identity the coordinator gave it — its id and its own token — in
/// <c>DATA/identity.json</c> (readable by the agent's user only), so a restarted agent stays the same agent: it asks
/// for its id back with that token (<see cref="PreviousTokenHeader"/>), which the coordinator requires while the id's
/// session is still open (the join token alone cannot claim a connected agent's id).
/// </summary>
public sealed class Registration(AgentOptions options, AgentCredentials credentials, ILogger log)
{
    public const string PreviousTokenHeader = "x-ftl-agent-token";

    public async Task RegisterAsync(AgentChannel channel, IReadOnlyList<GpuInfo> gpus, CancellationToken cancellationToken)
    {
        var (knownId, knownToken) = ReadIdentity(options.IdentityFile);
        var inventory = NodeInventoryProbe.Probe(options.DataDir, options.Provider, options.PricePerHour, gpus, null);
        var headers = new Metadata();
        if (knownToken is not null) headers.Add(PreviousTokenHeader, knownToken);
        var response = await channel.Client.RegisterAsync(new RegisterRequest { Name = options.Name, Inventory = inventory, AgentId = knownId ?? "" },
            headers, deadline: DateTime.UtcNow.AddSeconds(15), cancellationToken: cancellationToken);
        credentials.Registered(response.AgentId, response.AgentToken);
        var tmp = options.IdentityFile + ".tmp";
        File.WriteAllText(tmp, "");
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(tmp, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        File.WriteAllText(tmp, JsonSerializer.Serialize(new { agent_id = response.AgentId, agent_token = response.AgentToken }));
        File.Move(tmp, options.IdentityFile, overwrite: true);
        log.LogInformation("registered with {Coordinator} as {Id}", options.Coordinator, response.AgentId);
    }

    /// <summary>The id and token of <c>identity.json</c> (an identity file written before tokens were kept has no token).</summary>
    public static (string? Id, string? Token) ReadIdentity(string file)
    {
        if (!File.Exists(file)) return (null, null);
        var root = JsonDocument.Parse(File.ReadAllText(file)).RootElement;
        return (root.GetProperty("agent_id").GetString(), root.TryGetProperty("agent_token", out var t) ? t.GetString() : null);
    }
}
