using System.Diagnostics;
using FineTuneLab.Shared.Grpc;
using FineTuneLab.Shared.Grpc.Client;
using FineTuneLab.Shared.Grpc.Echo;
using FineTuneLab.Shared.Grpc.Server;
using FineTuneLab.Shared.Protos.Test.V1;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace FineTuneLab.Shared.Tests.Grpc;

public sealed class DeadlineAndCancellationTests
{
    private static readonly GrpcMethod<EchoRequest, EchoResponse> Wait =
        new(MethodType.Unary, "ftl.test.v1.Probe", "Wait", EchoRequest.Parser, EchoResponse.Parser);

    /// <summary>A handler that waits for its token and reports why it woke up.</summary>
    private static (Action<Microsoft.AspNetCore.Routing.IEndpointRouteBuilder> Map, TaskCompletionSource<DateTime> Cancelled) WaitingHandler()
    {
        var cancelled = new TaskCompletionSource<DateTime>(TaskCreationOptions.RunContinuationsAsynchronously);
        return (app => app.MapGrpcMethod(Wait, async (EchoRequest _, ServerCallContext ctx) =>
        {
            try
            {
                await Task.Delay(Timeout.Infinite, ctx.CancellationToken);
            }
            catch (OperationCanceledException)
            {
                cancelled.TrySetResult(DateTime.UtcNow);
                throw;
            }
            return new EchoResponse();
        }), cancelled);
    }

    [Fact]
    public async Task Server_enforces_the_grpc_timeout_header_and_cancels_the_handler()
    {
        var (map, cancelled) = WaitingHandler();
        await using var server = await GrpcTestServer.StartAsync(map);
        using var http = RawHttp2.CreateClient();
        var watch = Stopwatch.StartNew();

        // A raw request (no client-side deadline at all): only the server can end it.
        using var response = await RawHttp2.PostAsync(http, server.Address + Wait.FullName, new EchoRequest(),
            r => r.Headers.TryAddWithoutValidation("grpc-timeout", "300m"));
        await response.Content.ReadAsByteArrayAsync();

        var status = response.Headers.Contains("grpc-status") ? response.Headers.GetValues("grpc-status") : response.TrailingHeaders.GetValues("grpc-status");
        Assert.Equal("4", status.Single());
        Assert.InRange(watch.ElapsedMilliseconds, 250, 5000);
        await cancelled.Task.WaitAsync(TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task Deadline_exceeded_on_a_slow_unary_call()
    {
        await using var server = await GrpcTestServer.StartAsync();
        using var channel = GrpcChannel.ForAddress(server.Address);

        var e = await Assert.ThrowsAsync<RpcException>(async () => await channel.CreateCallInvoker().UnaryAsync(EchoDescriptors.Unary,
            new EchoRequest { DelayMs = 10_000 }, CallOptions.WithTimeout(TimeSpan.FromMilliseconds(200))));

        Assert.Equal(StatusCode.DeadlineExceeded, e.StatusCode);
    }

    [Fact]
    public async Task Client_enforces_its_deadline_against_a_server_that_never_answers()
    {
        var aborted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var entered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        // Not a gRPC handler: a bare endpoint that ignores grpc-timeout and never responds.
        await using var server = await GrpcTestServer.StartAsync(app => app.MapPost("/ftl.test.v1.Hang/Unary", (RequestDelegate)(async http =>
        {
            entered.TrySetResult();
            try { await Task.Delay(Timeout.Infinite, http.RequestAborted); }
            catch (OperationCanceledException) { aborted.TrySetResult(); }
        })));
        using var channel = GrpcChannel.ForAddress(server.Address);
        var hang = new GrpcMethod<EchoRequest, EchoResponse>(MethodType.Unary, "ftl.test.v1.Hang", "Unary", EchoRequest.Parser, EchoResponse.Parser);
        await channel.CreateCallInvoker().UnaryAsync(EchoDescriptors.Unary, new EchoRequest()); // connect and warm up first
        var watch = Stopwatch.StartNew();

        var e = await Assert.ThrowsAsync<RpcException>(async () => await channel.CreateCallInvoker().UnaryAsync(hang,
            new EchoRequest(), CallOptions.WithTimeout(TimeSpan.FromMilliseconds(1000))));

        Assert.Equal(StatusCode.DeadlineExceeded, e.StatusCode);
        Assert.InRange(watch.ElapsedMilliseconds, 950, 6000);
        Assert.True(entered.Task.IsCompleted, "the request never reached the endpoint");
        await aborted.Task.WaitAsync(TimeSpan.FromSeconds(5)); // the client reset the stream
    }

    [Fact]
    public async Task Deadline_in_the_past_fails_without_a_round_trip()
    {
        using var channel = GrpcChannel.ForAddress("http://127.0.0.1:9"); // nothing listens: any send would be UNAVAILABLE
        var e = await Assert.ThrowsAsync<RpcException>(async () => await channel.CreateCallInvoker().UnaryAsync(EchoDescriptors.Unary,
            new EchoRequest(), new CallOptions(Deadline: DateTime.UtcNow.AddSeconds(-1))));
        Assert.Equal(StatusCode.DeadlineExceeded, e.StatusCode);
    }

    [Fact]
    public async Task Client_cancellation_resets_the_stream_and_cancels_the_server_handler()
    {
        var (map, cancelled) = WaitingHandler();
        await using var server = await GrpcTestServer.StartAsync(map);
        using var channel = GrpcChannel.ForAddress(server.Address);
        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));

        var e = await Assert.ThrowsAsync<RpcException>(async () => await channel.CreateCallInvoker().UnaryAsync(Wait,
            new EchoRequest(), new CallOptions(CancellationToken: cts.Token)));

        Assert.Equal(StatusCode.Cancelled, e.StatusCode);
        await cancelled.Task.WaitAsync(TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task Cancelling_a_duplex_call_mid_stream_cancels_the_server_and_the_reader()
    {
        var serverCancelled = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var duplex = new GrpcMethod<EchoRequest, EchoResponse>(MethodType.DuplexStreaming, "ftl.test.v1.Probe", "Duplex", EchoRequest.Parser, EchoResponse.Parser);
        await using var server = await GrpcTestServer.StartAsync(app => app.MapGrpcMethod(duplex,
            async (IAsyncStreamReader<EchoRequest> requests, IServerStreamWriter<EchoResponse> responses, ServerCallContext ctx) =>
            {
                ctx.CancellationToken.Register(() => serverCancelled.TrySetResult());
                while (await requests.MoveNext())
                    await responses.WriteAsync(new EchoResponse { Text = requests.Current.Text });
            }));
        using var channel = GrpcChannel.ForAddress(server.Address);
        using var cts = new CancellationTokenSource();
        using var call = channel.CreateCallInvoker().Duplex(duplex, new CallOptions(CancellationToken: cts.Token));

        await call.RequestStream.WriteAsync(new EchoRequest { Text = "one" });
        Assert.True(await call.ResponseStream.MoveNext());
        var pending = call.ResponseStream.MoveNext();
        cts.Cancel();

        var e = await Assert.ThrowsAsync<RpcException>(() => pending);
        Assert.Equal(StatusCode.Cancelled, e.StatusCode);
        await serverCancelled.Task.WaitAsync(TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task Server_abort_reaches_the_client_as_cancelled()
    {
        var duplex = new GrpcMethod<EchoRequest, EchoResponse>(MethodType.DuplexStreaming, "ftl.test.v1.Probe", "AbortOnSecond", EchoRequest.Parser, EchoResponse.Parser);
        await using var server = await GrpcTestServer.StartAsync(app => app.MapGrpcMethod(duplex,
            async (IAsyncStreamReader<EchoRequest> requests, IServerStreamWriter<EchoResponse> responses, ServerCallContext ctx) =>
            {
                await requests.MoveNext();
                await responses.WriteAsync(new EchoResponse { Text = "first" });
                await requests.MoveNext(); // the client has read "first" when this arrives
                ctx.Abort();
            }));
        using var channel = GrpcChannel.ForAddress(server.Address);
        using var call = channel.CreateCallInvoker().Duplex(duplex);

        await call.RequestStream.WriteAsync(new EchoRequest());
        Assert.True(await call.ResponseStream.MoveNext());
        Assert.Equal("first", call.ResponseStream.Current.Text);
        await call.RequestStream.WriteAsync(new EchoRequest());
        var e = await Assert.ThrowsAsync<RpcException>(() => call.ResponseStream.MoveNext());

        Assert.Equal(StatusCode.Cancelled, e.StatusCode);
    }
}
