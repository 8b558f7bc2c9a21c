using System.Text.Json;
using FineTuneLab.TestSupport;

namespace FineTuneLab.Coordinator.Tests.AgentGateway;

/// <summary>Debian's python grpcio (a peer we did not write) against the coordinator's grpc-dotnet endpoint.</summary>
public sealed class GrpcioInteropTests
{
    [Fact]
    public async Task Grpcio_gets_serving_from_health_and_unauthenticated_for_a_bad_join_token()
    {
        await using var coordinator = await RunningCoordinator.StartAsync();
        var result = await ExternalProcess.RunAsync(ExternalProcess.DebianPython,
            [Path.Combine(RepoPaths.Scripts, "grpc-interop", "coordinator_probe.py"), $"127.0.0.1:{coordinator.Options.GrpcUrl!.Port}"],
            timeout: TimeSpan.FromMinutes(2));
        result.EnsureSuccess("coordinator_probe.py");
        var json = JsonDocument.Parse(result.StdOut).RootElement;
        Assert.Equal("SERVING", json.GetProperty("health").GetString());
        Assert.Equal("SERVING", json.GetProperty("health_gateway").GetString());
        Assert.Equal("UNAUTHENTICATED", json.GetProperty("register_bad_token").GetString());
        Assert.Contains("join token", json.GetProperty("register_bad_token_details").GetString());
        // With the right join token the same call registers the node.
        Assert.StartsWith("agent_", json.GetProperty("register_good_token").GetString());
    }
}
