using FineTuneLab.Shared.Grpc;
using FineTuneLab.Shared.Grpc.Client;
using FineTuneLab.Shared.Grpc.Echo;
using FineTuneLab.Shared.Protos.Test.V1;
using Google.Protobuf;

namespace FineTuneLab.Shared.Tests.Interop;

/// <summary>Our C# client against python grpcio's server (scripts/grpc-interop/echo_server.py, gzip responses).</summary>
public sealed class OurClientAgainstGrpcioServerTests(PythonEchoServer server) : IClassFixture<PythonEchoServer>
{
    private GrpcChannel Channel() => GrpcChannel.ForAddress(server.Address, new GrpcChannelOptions { MaxReceiveMessageSize = 16 * 1024 * 1024 });

    [Fact]
    public async Task Unary_and_metadata()
    {
        using var channel = Channel();
        var headers = new Metadata().Add("x-echo", "py-1").Add("x-echo-bin", new byte[] { 0, 128, 255 }).Add("authorization", "Bearer t0k");
        using var call = channel.CreateCallInvoker().UnaryAsync(EchoDescriptors.Unary,
            new EchoRequest { Text = "héllo", Payload = ByteString.CopyFrom(1, 2, 3) }, new CallOptions(headers, DateTime.UtcNow.AddSeconds(10)));

        var response = await call;

        Assert.Equal("héllo", response.Text);
        Assert.Equal(new byte[] { 1, 2, 3 }, response.Payload.ToByteArray());
        Assert.Equal("py-1", response.MetadataEcho);
        Assert.Equal("Bearer t0k", response.AuthorizationEcho);
        Assert.Equal("py-1", (await call.ResponseHeadersAsync).GetValue("x-echo-response"));
        Assert.Equal("py-1", call.GetTrailers().GetValue("x-echo-trailer"));
        Assert.Equal(new byte[] { 0, 128, 255 }, call.GetTrailers().GetValueBytes("x-echo-bin"));
    }

    [Fact]
    public async Task Streaming_call_kinds()
    {
        using var channel = Channel();
        var invoker = channel.CreateCallInvoker();

        using var serverStream = invoker.ServerStreaming(EchoDescriptors.ServerStream, new EchoRequest { Repeat = 7, ResponsePayloadBytes = 50_000 });
        var indexes = new List<int>();
        await foreach (var m in serverStream.ResponseStream.ReadAllAsync())
        {
            Assert.Equal(EchoService.Pattern(50_000), m.Payload); // gzip-compressed on the wire
            indexes.Add(m.Index);
        }
        Assert.Equal(Enumerable.Range(0, 7), indexes);

        using var clientStream = invoker.ClientStreaming(EchoDescriptors.ClientStream);
        foreach (var t in new[] { "x", "y", "z" })
            await clientStream.RequestStream.WriteAsync(new EchoRequest { Text = t, Payload = ByteString.CopyFrom(new byte[10]) });
        await clientStream.RequestStream.CompleteAsync();
        var summary = await clientStream;
        Assert.Equal(("xyz", 3, 30L), (summary.Text, summary.Index, summary.TotalPayloadBytes));

        using var duplex = invoker.Duplex(EchoDescriptors.Duplex);
        for (var i = 0; i < 10; i++)
        {
            await duplex.RequestStream.WriteAsync(new EchoRequest { Text = $"d{i}" });
            Assert.True(await duplex.ResponseStream.MoveNext());
            Assert.Equal((i, $"d{i}"), (duplex.ResponseStream.Current.Index, duplex.ResponseStream.Current.Text));
        }
        await duplex.RequestStream.CompleteAsync();
        Assert.False(await duplex.ResponseStream.MoveNext());
    }

    [Fact]
    public async Task Every_error_status_and_message_round_trips()
    {
        using var channel = Channel();
        var invoker = channel.CreateCallInvoker();
        for (var code = 1; code <= 16; code++)
        {
            var message = $"{code}: échec ✓ 100% 日本";
            var e = await Assert.ThrowsAsync<RpcException>(async () =>
                await invoker.UnaryAsync(EchoDescriptors.Unary, new EchoRequest { FailWithStatus = code, FailMessage = message }));
            Assert.Equal(((StatusCode)code, message), (e.StatusCode, e.Status.Detail));
        }

        using var failing = invoker.ServerStreaming(EchoDescriptors.ServerStream, new EchoRequest { Repeat = 2, FailWithStatus = 9, FailMessage = "late" });
        Assert.True(await failing.ResponseStream.MoveNext());
        Assert.True(await failing.ResponseStream.MoveNext());
        var late = await Assert.ThrowsAsync<RpcException>(() => failing.ResponseStream.MoveNext());
        Assert.Equal(StatusCode.FailedPrecondition, late.StatusCode);
    }

    [Fact]
    public async Task Deadline_and_cancellation_reach_the_grpcio_server()
    {
        using var channel = Channel();
        var invoker = channel.CreateCallInvoker();
        // Connected and answering first: a deadline that passes before grpcio starts the handler never reaches it.
        await invoker.UnaryAsync(EchoDescriptors.Unary, new EchoRequest(), CallOptions.WithTimeout(TimeSpan.FromSeconds(30)));

        var deadline = await Assert.ThrowsAsync<RpcException>(async () => await invoker.UnaryAsync(EchoDescriptors.Unary,
            new EchoRequest { DelayMs = 5000 }, CallOptions.WithTimeout(TimeSpan.FromMilliseconds(1000))));
        Assert.Equal(StatusCode.DeadlineExceeded, deadline.StatusCode);

        using var cts = new CancellationTokenSource();
        using var stream = invoker.ServerStreaming(EchoDescriptors.ServerStream, new EchoRequest { Repeat = 100, DelayMs = 100 },
            new CallOptions(CancellationToken: cts.Token));
        Assert.True(await stream.ResponseStream.MoveNext());
        cts.Cancel();
        var cancelled = await Assert.ThrowsAsync<RpcException>(() => stream.ResponseStream.MoveNext());
        Assert.Equal(StatusCode.Cancelled, cancelled.StatusCode);

        Assert.True(await server.SawLineAsync("CANCELLED Unary", TimeSpan.FromSeconds(10)), $"grpcio did not see the deadline; it printed: {server.Lines}");
        Assert.True(await server.SawLineAsync("CANCELLED ServerStream", TimeSpan.FromSeconds(10)), $"grpcio did not see the cancellation; it printed: {server.Lines}");
    }

    [Fact]
    public async Task Large_and_compressed_messages()
    {
        using var channel = GrpcChannel.ForAddress(server.Address, new GrpcChannelOptions
        {
            MaxReceiveMessageSize = 16 * 1024 * 1024,
            CompressRequests = true,
        });
        var payload = EchoService.Pattern(6 * 1024 * 1024);

        var response = await channel.CreateCallInvoker().UnaryAsync(EchoDescriptors.Unary, new EchoRequest { Payload = payload });
        Assert.Equal(payload, response.Payload);

        using var defaultLimits = GrpcChannel.ForAddress(server.Address);
        var e = await Assert.ThrowsAsync<RpcException>(async () => await defaultLimits.CreateCallInvoker()
            .UnaryAsync(EchoDescriptors.Unary, new EchoRequest { ResponsePayloadBytes = 5 * 1024 * 1024 }));
        Assert.Equal(StatusCode.ResourceExhausted, e.StatusCode);
    }
}
