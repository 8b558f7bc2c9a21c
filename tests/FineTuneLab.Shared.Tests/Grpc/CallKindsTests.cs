using FineTuneLab.Shared.Grpc;
using FineTuneLab.Shared.Grpc.Client;
using FineTuneLab.Shared.Grpc.Echo;
using FineTuneLab.Shared.Grpc.Server;
using FineTuneLab.Shared.Protos.Test.V1;
using Google.Protobuf;

namespace FineTuneLab.Shared.Tests.Grpc;

/// <summary>Our client against our Kestrel server: the four call kinds and metadata.</summary>
public sealed class CallKindsTests
{
    [Fact]
    public async Task Unary_echoes_text_and_payload()
    {
        await using var server = await GrpcTestServer.StartAsync();
        using var channel = GrpcChannel.ForAddress(server.Address);
        var invoker = channel.CreateCallInvoker();

        var payload = ByteString.CopyFrom(Enumerable.Range(0, 1000).Select(i => (byte)(i * 7)).ToArray());
        var response = await invoker.UnaryAsync(EchoDescriptors.Unary, new EchoRequest { Text = "héllo", Payload = payload });

        Assert.Equal("héllo", response.Text);
        Assert.Equal(payload, response.Payload);
        Assert.Equal(0, response.Index);
    }

    [Fact]
    public async Task Server_streaming_delivers_every_message_in_order()
    {
        await using var server = await GrpcTestServer.StartAsync();
        using var channel = GrpcChannel.ForAddress(server.Address);
        using var call = channel.CreateCallInvoker().ServerStreaming(EchoDescriptors.ServerStream,
            new EchoRequest { Text = "s", Repeat = 25, ResponsePayloadBytes = 100 });

        var indexes = new List<int>();
        await foreach (var r in call.ResponseStream.ReadAllAsync())
        {
            Assert.Equal(EchoService.Pattern(100), r.Payload);
            indexes.Add(r.Index);
        }

        Assert.Equal(Enumerable.Range(0, 25), indexes);
        Assert.Equal(StatusCode.OK, call.GetStatus().StatusCode);
    }

    [Fact]
    public async Task Client_streaming_reads_every_request()
    {
        await using var server = await GrpcTestServer.StartAsync();
        using var channel = GrpcChannel.ForAddress(server.Address);
        using var call = channel.CreateCallInvoker().ClientStreaming(EchoDescriptors.ClientStream);

        for (var i = 0; i < 10; i++)
            await call.RequestStream.WriteAsync(new EchoRequest { Text = i.ToString(), Payload = ByteString.CopyFrom(new byte[i]) });
        await call.RequestStream.CompleteAsync();
        var response = await call;

        Assert.Equal("0123456789", response.Text);
        Assert.Equal(10, response.Index);
        Assert.Equal(45, response.TotalPayloadBytes);
    }

    [Fact]
    public async Task Duplex_answers_each_message_as_it_arrives()
    {
        await using var server = await GrpcTestServer.StartAsync();
        using var channel = GrpcChannel.ForAddress(server.Address);
        using var call = channel.CreateCallInvoker().Duplex(EchoDescriptors.Duplex);

        // Ping-pong: each answer must arrive before the next request is sent, proving real full duplex.
        for (var i = 0; i < 20; i++)
        {
            await call.RequestStream.WriteAsync(new EchoRequest { Text = $"m{i}" });
            Assert.True(await call.ResponseStream.MoveNext());
            Assert.Equal($"m{i}", call.ResponseStream.Current.Text);
            Assert.Equal(i, call.ResponseStream.Current.Index);
        }
        await call.RequestStream.CompleteAsync();
        Assert.False(await call.ResponseStream.MoveNext());
        Assert.Equal(StatusCode.OK, call.GetStatus().StatusCode);
    }

    [Fact]
    public async Task Metadata_travels_as_headers_trailers_and_binary()
    {
        await using var server = await GrpcTestServer.StartAsync();
        using var channel = GrpcChannel.ForAddress(server.Address);
        var binary = new byte[] { 0, 1, 2, 250, 251, 255 };
        var headers = new Metadata()
            .Add("x-echo", "ping-42")
            .Add("x-echo-bin", binary)
            .Add("authorization", "Bearer secret-token.1");

        using var call = channel.CreateCallInvoker().UnaryAsync(EchoDescriptors.Unary, new EchoRequest { Text = "m" }, new CallOptions(headers));
        var response = await call;
        var responseHeaders = await call.ResponseHeadersAsync;
        var trailers = call.GetTrailers();

        Assert.Equal("ping-42", response.MetadataEcho);
        Assert.Equal("Bearer secret-token.1", response.AuthorizationEcho);
        Assert.Equal("ping-42", responseHeaders.GetValue("x-echo-response"));
        Assert.Equal("ping-42", trailers.GetValue("x-echo-trailer"));
        Assert.Equal(binary, trailers.GetValueBytes("x-echo-bin"));
    }

    [Fact]
    public async Task Server_context_exposes_bearer_token_peer_and_deadline()
    {
        var probe = new GrpcMethod<EchoRequest, EchoResponse>(MethodType.Unary, "ftl.test.v1.Probe", "Context", EchoRequest.Parser, EchoResponse.Parser);
        await using var server = await GrpcTestServer.StartAsync(app => app.MapGrpcMethod(probe, (EchoRequest _, FineTuneLab.Shared.Grpc.Server.ServerCallContext ctx) =>
            Task.FromResult(new EchoResponse
            {
                Text = $"{ctx.BearerToken}|{ctx.Peer.StartsWith("ipv4:127.0.0.1:", StringComparison.Ordinal)}|{(ctx.Deadline - DateTime.UtcNow).TotalSeconds:F0}|{ctx.Method}",
            })));
        using var channel = GrpcChannel.ForAddress(server.Address);

        var response = await channel.CreateCallInvoker().UnaryAsync(probe, new EchoRequest(),
            CallOptions.WithTimeout(TimeSpan.FromSeconds(30), new Metadata().Add("authorization", "Bearer abc")));

        Assert.Equal("abc|True|30|/ftl.test.v1.Probe/Context", response.Text);
    }
}
