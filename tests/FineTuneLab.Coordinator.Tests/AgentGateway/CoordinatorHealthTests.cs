using System.Net;
using System.Net.Sockets;
using FineTuneLab.Coordinator.AgentGateway;
using FineTuneLab.Shared.Protos.Agent.V1;
using Grpc.Core;
using Grpc.Health.V1;
using Grpc.Net.Client;
using Grpc.Reflection.V1Alpha;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using ServingStatus = Grpc.Health.V1.HealthCheckResponse.Types.ServingStatus;

namespace FineTuneLab.Coordinator.Tests.AgentGateway;

public sealed class CoordinatorHealthTests
{
    [Fact]
    public async Task Status_follows_the_lifecycle()
    {
        var health = new CoordinatorHealth();
        Assert.Equal(HealthStatus.Unhealthy, (await health.CheckHealthAsync(new HealthCheckContext())).Status);

        health.MarkStoreOpen();
        Assert.True(health.IsServing);
        Assert.Equal(HealthStatus.Healthy, (await health.CheckHealthAsync(new HealthCheckContext())).Status);

        health.MarkStopping();
        health.MarkStoreOpen(); // a late open must not revive a stopping server
        Assert.False(health.IsServing);
        Assert.Equal(HealthStatus.Unhealthy, (await health.CheckHealthAsync(new HealthCheckContext())).Status);
    }

    [Fact]
    public async Task A_running_coordinator_serves_health_and_reflection_and_reports_not_serving_when_it_stops()
    {
        await using var coordinator = await RunningCoordinator.StartAsync();
        var host = coordinator.Host;

        using var http = new HttpClient();
        var healthz = await http.GetAsync($"{coordinator.Options.HttpUrl}healthz");
        Assert.Equal(HttpStatusCode.OK, healthz.StatusCode);
        Assert.Contains("serving", await healthz.Content.ReadAsStringAsync());

        using var channel = GrpcChannel.ForAddress(coordinator.Options.GrpcUrl!);
        var healthClient = new Health.HealthClient(channel);
        Assert.Equal(ServingStatus.Serving, (await healthClient.CheckAsync(new HealthCheckRequest())).Status);
        Assert.Equal(ServingStatus.Serving, (await healthClient.CheckAsync(new HealthCheckRequest { Service = "ftl.agent.v1.AgentGateway" })).Status);

        // The agent gateway is served, and refuses a caller without an agent token.
        var gateway = new FineTuneLab.Shared.Protos.Agent.V1.AgentGateway.AgentGatewayClient(channel);
        var unauthenticated = await Assert.ThrowsAsync<RpcException>(async () => await gateway.QueryUploadAsync(new UploadQuery()));
        Assert.Equal(StatusCode.Unauthenticated, unauthenticated.StatusCode);

        // Reflection lists the services, as grpcurl would see them.
        using (var reflection = new ServerReflection.ServerReflectionClient(channel).ServerReflectionInfo())
        {
            await reflection.RequestStream.WriteAsync(new ServerReflectionRequest { ListServices = "" });
            Assert.True(await reflection.ResponseStream.MoveNext());
            var services = reflection.ResponseStream.Current.ListServicesResponse.Service.Select(s => s.Name).ToList();
            Assert.Contains("ftl.agent.v1.AgentGateway", services);
            Assert.Contains("grpc.health.v1.Health", services);
            await reflection.RequestStream.CompleteAsync();
        }

        using var watch = healthClient.Watch(new HealthCheckRequest(), deadline: DateTime.UtcNow.AddSeconds(30));
        Assert.True(await watch.ResponseStream.MoveNext());
        Assert.Equal(ServingStatus.Serving, watch.ResponseStream.Current.Status);

        var stopping = host.StopAsync();
        Assert.True(await watch.ResponseStream.MoveNext());
        Assert.Equal(ServingStatus.NotServing, watch.ResponseStream.Current.Status);
        Assert.False(await watch.ResponseStream.MoveNext()); // the watch ends cleanly so shutdown need not wait for it
        await stopping.WaitAsync(TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task An_oversized_message_is_resource_exhausted()
    {
        await using var coordinator = await RunningCoordinator.StartAsync();
        using var channel = GrpcChannel.ForAddress(coordinator.Options.GrpcUrl!);
        var gateway = new FineTuneLab.Shared.Protos.Agent.V1.AgentGateway.AgentGatewayClient(channel);
        var tooBig = new RegisterRequest { Name = new string('x', AgentGatewayExtensions.MaxReceiveMessageSize + 1), Inventory = new NodeInventory() };
        var e = await Assert.ThrowsAsync<RpcException>(async () => await gateway.RegisterAsync(tooBig, new Metadata { { "authorization", "Bearer join" } }));
        Assert.Equal(StatusCode.ResourceExhausted, e.StatusCode);
    }
}

/// <summary>A coordinator on free loopback ports with a temp data folder and join token <c>join</c>, removed on dispose.</summary>
internal sealed class RunningCoordinator : IAsyncDisposable
{
    private RunningCoordinator(CoordinatorHost host, CoordinatorOptions options) => (Host, Options) = (host, options);

    public CoordinatorHost Host { get; }
    public CoordinatorOptions Options { get; }

    public static async Task<RunningCoordinator> StartAsync()
    {
        var dir = Directory.CreateTempSubdirectory("ftl-coord-").FullName;
        var options = new CoordinatorOptions(dir, new Uri($"http://127.0.0.1:{FreePort()}"), new Uri($"http://127.0.0.1:{FreePort()}"), AgentToken: "join");
        var host = CoordinatorHost.Create(options, Serilog.Core.Logger.None);
        await host.StartAsync();
        return new RunningCoordinator(host, options);
    }

    public async ValueTask DisposeAsync()
    {
        await Host.DisposeAsync();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(Options.DataDir, recursive: true);
    }

    private static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }
}
