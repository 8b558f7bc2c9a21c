using FineTuneLab.Shared.Grpc;
using FineTuneLab.Shared.Grpc.Client;
using FineTuneLab.Shared.Grpc.Health;
using FineTuneLab.Shared.Grpc.Server;
using Grpc.Health.V1;
using ServingStatus = Grpc.Health.V1.HealthCheckResponse.Types.ServingStatus;

namespace FineTuneLab.Shared.Tests.Grpc;

public sealed class HealthServiceTests
{
    [Fact]
    public async Task Check_reports_registered_statuses_and_not_found()
    {
        var registry = new HealthStatusRegistry();
        registry.Set("", ServingStatus.Serving);
        registry.Set("ftl.agent.v1.AgentGateway", ServingStatus.NotServing);
        await using var server = await GrpcTestServer.StartAsync(app => app.MapGrpcService(new HealthService(registry)));
        using var channel = GrpcChannel.ForAddress(server.Address);
        var invoker = channel.CreateCallInvoker();

        Assert.Equal(ServingStatus.Serving, (await invoker.UnaryAsync(HealthDescriptors.Check, new HealthCheckRequest())).Status);
        Assert.Equal(ServingStatus.NotServing, (await invoker.UnaryAsync(HealthDescriptors.Check,
            new HealthCheckRequest { Service = "ftl.agent.v1.AgentGateway" })).Status);
        var e = await Assert.ThrowsAsync<RpcException>(async () => await invoker.UnaryAsync(HealthDescriptors.Check,
            new HealthCheckRequest { Service = "nope" }));
        Assert.Equal(StatusCode.NotFound, e.StatusCode);
    }

    [Fact]
    public async Task Watch_streams_the_current_status_and_every_change()
    {
        var registry = new HealthStatusRegistry();
        await using var server = await GrpcTestServer.StartAsync(app => app.MapGrpcService(new HealthService(registry)));
        using var channel = GrpcChannel.ForAddress(server.Address);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        using var watch = channel.CreateCallInvoker().ServerStreaming(HealthDescriptors.Watch,
            new HealthCheckRequest { Service = "svc" }, new CallOptions(CancellationToken: cts.Token));

        async Task<ServingStatus> Next()
        {
            Assert.True(await watch.ResponseStream.MoveNext());
            return watch.ResponseStream.Current.Status;
        }

        Assert.Equal(ServingStatus.ServiceUnknown, await Next());
        registry.Set("svc", ServingStatus.Serving);
        Assert.Equal(ServingStatus.Serving, await Next());
        registry.Set("other", ServingStatus.NotServing); // not watched
        registry.Set("svc", ServingStatus.NotServing);
        Assert.Equal(ServingStatus.NotServing, await Next());
    }
}
