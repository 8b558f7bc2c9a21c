using System.Net;
using System.Net.Http;
using FineTuneLab.Shared.Grpc;
using FineTuneLab.Shared.Grpc.Client;
using FineTuneLab.Shared.Grpc.Echo;
using FineTuneLab.Shared.Grpc.Server;
using FineTuneLab.Shared.Protos.Test.V1;

namespace FineTuneLab.Shared.Tests.Grpc;

public sealed class StatusTests
{
    public static TheoryData<int> ErrorCodes() => new(Enumerable.Range(1, 16));

    [Theory]
    [MemberData(nameof(ErrorCodes))]
    public async Task Every_error_status_round_trips_with_its_message(int code)
    {
        await using var server = await GrpcTestServer.StartAsync();
        using var channel = GrpcChannel.ForAddress(server.Address);
        var message = $"failed with {code}: 100% ünïcödé ✓ 日本\n\"quoted\"";

        var e = await Assert.ThrowsAsync<RpcException>(async () => await channel.CreateCallInvoker()
            .UnaryAsync(EchoDescriptors.Unary, new EchoRequest { FailWithStatus = code, FailMessage = message }));

        Assert.Equal((StatusCode)code, e.StatusCode);
        Assert.Equal(message, e.Status.Detail);
    }

    [Fact]
    public async Task Status_after_streamed_messages_arrives_in_trailers()
    {
        await using var server = await GrpcTestServer.StartAsync();
        using var channel = GrpcChannel.ForAddress(server.Address);
        using var call = channel.CreateCallInvoker().ServerStreaming(EchoDescriptors.ServerStream,
            new EchoRequest { Repeat = 3, FailWithStatus = (int)StatusCode.DataLoss, FailMessage = "after three" });

        var received = 0;
        var e = await Assert.ThrowsAsync<RpcException>(async () =>
        {
            while (await call.ResponseStream.MoveNext())
                received++;
        });

        Assert.Equal(3, received);
        Assert.Equal(StatusCode.DataLoss, e.StatusCode);
        Assert.Equal("after three", e.Status.Detail);
    }

    [Fact]
    public async Task Early_error_is_a_trailers_only_response()
    {
        await using var server = await GrpcTestServer.StartAsync();
        using var http = RawHttp2.CreateClient();

        using var response = await RawHttp2.PostAsync(http, server.Address + EchoDescriptors.Unary.FullName,
            new EchoRequest { FailWithStatus = 5, FailMessage = "nope é" });
        var body = await response.Content.ReadAsByteArrayAsync();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("5", Assert.Single(response.Headers.GetValues("grpc-status")));
        Assert.Equal("nope %C3%A9", Assert.Single(response.Headers.GetValues("grpc-message")));
        Assert.Empty(body);
        Assert.Empty(response.TrailingHeaders);
    }

    [Fact]
    public async Task Successful_unary_response_carries_status_in_trailers()
    {
        await using var server = await GrpcTestServer.StartAsync();
        using var http = RawHttp2.CreateClient();

        using var response = await RawHttp2.PostAsync(http, server.Address + EchoDescriptors.Unary.FullName, new EchoRequest { Text = "x" });
        var body = await response.Content.ReadAsByteArrayAsync();

        Assert.Equal("application/grpc", response.Content.Headers.ContentType?.MediaType);
        Assert.False(response.Headers.Contains("grpc-status"));
        Assert.Equal("0", Assert.Single(response.TrailingHeaders.GetValues("grpc-status")));
        Assert.Equal(0, body[0]);
        Assert.Equal("x", EchoResponse.Parser.ParseFrom(body.AsSpan(5).ToArray()).Text);
        Assert.Contains("gzip", response.Headers.GetValues("grpc-accept-encoding").Single());
    }

    [Fact]
    public async Task Unknown_method_is_unimplemented()
    {
        await using var server = await GrpcTestServer.StartAsync();
        using var channel = GrpcChannel.ForAddress(server.Address);
        var missing = new GrpcMethod<EchoRequest, EchoResponse>(MethodType.Unary, "ftl.test.v1.Echo", "Missing", EchoRequest.Parser, EchoResponse.Parser);

        var e = await Assert.ThrowsAsync<RpcException>(async () => await channel.CreateCallInvoker().UnaryAsync(missing, new EchoRequest()));

        Assert.Equal(StatusCode.Unimplemented, e.StatusCode);
        Assert.Contains("/ftl.test.v1.Echo/Missing", e.Status.Detail);
    }

    [Fact]
    public async Task Handler_exception_becomes_unknown()
    {
        var boom = new GrpcMethod<EchoRequest, EchoResponse>(MethodType.Unary, "ftl.test.v1.Probe", "Boom", EchoRequest.Parser, EchoResponse.Parser);
        await using var server = await GrpcTestServer.StartAsync(app => app.MapGrpcMethod(boom,
            (EchoRequest _, FineTuneLab.Shared.Grpc.Server.ServerCallContext _) => Task.FromException<EchoResponse>(new InvalidOperationException("kaput"))));
        using var channel = GrpcChannel.ForAddress(server.Address);

        var e = await Assert.ThrowsAsync<RpcException>(async () => await channel.CreateCallInvoker().UnaryAsync(boom, new EchoRequest()));

        Assert.Equal(StatusCode.Unknown, e.StatusCode);
        Assert.Contains("kaput", e.Status.Detail);
    }
}
