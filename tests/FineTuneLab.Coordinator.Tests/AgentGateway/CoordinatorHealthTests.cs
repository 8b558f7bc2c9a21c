using System.Net;
using System.Net.Sockets;
using FineTuneLab.Coordinator.AgentGateway;
using FineTuneLab.Shared.Grpc;
using FineTuneLab.Shared.Grpc.Client;
using FineTuneLab.Shared.Grpc.Health;
using Grpc.Health.V1;
using ServingStatus = Grpc.Health.V1.HealthCheckResponse.Types.ServingStatus;

namespace FineTuneLab.Coordinator.Tests.AgentGateway;

public sealed class CoordinatorHealthTests
{
    [Fact]
    public void Status_follows_the_lifecycle()
    {
        var health = new CoordinatorHealth();
        Assert.Equal(ServingStatus.NotServing, health.Registry.Get(""));
        Assert.Equal(ServingStatus.NotServing, health.Registry.Get("ftl.agent.v1.AgentGateway"));

        health.MarkStoreOpen();
        Assert.True(health.IsServing);
        Assert.Equal(ServingStatus.Serving, health.Registry.Get("ftl.agent.v1.AgentGateway"));

        health.MarkStopping();
        health.MarkStoreOpen(); // a late open must not revive a stopping server
        Assert.False(health.IsServing);
        Assert.Equal(ServingStatus.NotServing, health.Registry.Get("ftl.agent.v1.AgentGateway"));
    }

    [Fact]
    public async Task A_running_coordinator_serves_health_and_reports_not_serving_when_it_stops()
    {
        var dir = Directory.CreateTempSubdirectory("ftl-coord-").FullName;
        var (httpPort, grpcPort) = (FreePort(), FreePort());
        var options = new CoordinatorOptions(dir, new Uri($"http://127.0.0.1:{httpPort}"), new Uri($"http://127.0.0.1:{grpcPort}"));
        var host = CoordinatorHost.Create(options, Serilog.Core.Logger.None);
        try
        {
            await host.StartAsync();
            Assert.True(File.Exists(options.DatabasePath));

            using var http = new HttpClient();
            var healthz = await http.GetAsync($"http://127.0.0.1:{httpPort}/healthz");
            Assert.Equal(HttpStatusCode.OK, healthz.StatusCode);
            Assert.Contains("serving", await healthz.Content.ReadAsStringAsync());

            using var channel = GrpcChannel.ForAddress($"http://127.0.0.1:{grpcPort}");
            var invoker = channel.CreateCallInvoker();
            Assert.Equal(ServingStatus.Serving, (await invoker.UnaryAsync(HealthDescriptors.Check, new HealthCheckRequest())).Status);
            // The agent gateway is served, and refuses a caller without an agent token.
            var unauthenticated = await Assert.ThrowsAsync<RpcException>(async () => await invoker.UnaryAsync(
                FineTuneLab.Shared.Grpc.Agent.AgentGatewayDescriptors.QueryUpload, new FineTuneLab.Shared.Protos.Agent.V1.UploadQuery()));
            Assert.Equal(StatusCode.Unauthenticated, unauthenticated.StatusCode);

            using var watch = invoker.ServerStreaming(HealthDescriptors.Watch, new HealthCheckRequest(), CallOptions.WithTimeout(TimeSpan.FromSeconds(30)));
            Assert.True(await watch.ResponseStream.MoveNext());
            Assert.Equal(ServingStatus.Serving, watch.ResponseStream.Current.Status);

            var stopping = host.StopAsync();
            Assert.True(await watch.ResponseStream.MoveNext());
            Assert.Equal(ServingStatus.NotServing, watch.ResponseStream.Current.Status);
            Assert.False(await watch.ResponseStream.MoveNext()); // the watch ends cleanly so shutdown need not wait for it
            await stopping.WaitAsync(TimeSpan.FromSeconds(10));
        }
        finally
        {
            await host.DisposeAsync();
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            Directory.Delete(dir, recursive: true);
        }
    }

    private static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }
}
