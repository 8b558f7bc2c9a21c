using System.IO.Compression;
using System.Buffers.Binary;
using FineTuneLab.Shared.Grpc;
using FineTuneLab.Shared.Grpc.Client;
using FineTuneLab.Shared.Grpc.Echo;
using FineTuneLab.Shared.Protos.Test.V1;
using Google.Protobuf;

namespace FineTuneLab.Shared.Tests.Grpc;

public sealed class MessageSizeAndCompressionTests
{
    private const int MiB = 1024 * 1024;

    [Fact]
    public async Task Multi_megabyte_messages_pass_both_ways_with_raised_limits()
    {
        await using var server = await GrpcTestServer.StartAsync(configure: o => o.MaxReceiveMessageSize = 16 * MiB);
        using var channel = GrpcChannel.ForAddress(server.Address, new GrpcChannelOptions { MaxReceiveMessageSize = 16 * MiB });
        var invoker = channel.CreateCallInvoker();
        var payload = EchoService.Pattern(10 * MiB);

        var echoed = await invoker.UnaryAsync(EchoDescriptors.Unary, new EchoRequest { Payload = payload });
        Assert.Equal(payload, echoed.Payload);

        using var stream = invoker.ServerStreaming(EchoDescriptors.ServerStream, new EchoRequest { Repeat = 3, ResponsePayloadBytes = 6 * MiB });
        var count = 0;
        await foreach (var r in stream.ResponseStream.ReadAllAsync())
        {
            Assert.Equal(EchoService.Pattern(6 * MiB), r.Payload);
            count++;
        }
        Assert.Equal(3, count);
    }

    [Fact]
    public async Task Oversized_request_is_resource_exhausted_by_the_server()
    {
        await using var server = await GrpcTestServer.StartAsync();
        using var channel = GrpcChannel.ForAddress(server.Address);

        var e = await Assert.ThrowsAsync<RpcException>(async () => await channel.CreateCallInvoker()
            .UnaryAsync(EchoDescriptors.Unary, new EchoRequest { Payload = EchoService.Pattern(5 * MiB) }));

        Assert.Equal(StatusCode.ResourceExhausted, e.StatusCode);
        Assert.Contains("larger than max", e.Status.Detail);
    }

    [Fact]
    public async Task Oversized_response_is_resource_exhausted_by_the_client()
    {
        await using var server = await GrpcTestServer.StartAsync();
        using var channel = GrpcChannel.ForAddress(server.Address);

        var e = await Assert.ThrowsAsync<RpcException>(async () => await channel.CreateCallInvoker()
            .UnaryAsync(EchoDescriptors.Unary, new EchoRequest { ResponsePayloadBytes = 5 * MiB }));

        Assert.Equal(StatusCode.ResourceExhausted, e.StatusCode);
    }

    [Fact]
    public async Task Send_limits_are_enforced_on_both_sides()
    {
        await using var server = await GrpcTestServer.StartAsync(configure: o => o.MaxSendMessageSize = 1000);
        using var channel = GrpcChannel.ForAddress(server.Address, new GrpcChannelOptions { MaxSendMessageSize = 1000 });
        var invoker = channel.CreateCallInvoker();

        var local = await Assert.ThrowsAsync<RpcException>(async () => await invoker.UnaryAsync(EchoDescriptors.Unary,
            new EchoRequest { Payload = EchoService.Pattern(2000) }));
        var remote = await Assert.ThrowsAsync<RpcException>(async () => await invoker.UnaryAsync(EchoDescriptors.Unary,
            new EchoRequest { ResponsePayloadBytes = 2000 }));

        Assert.Equal(StatusCode.ResourceExhausted, local.StatusCode);
        Assert.Equal(StatusCode.ResourceExhausted, remote.StatusCode);
    }

    [Fact]
    public async Task Gzip_compressed_requests_are_accepted()
    {
        await using var server = await GrpcTestServer.StartAsync();
        using var channel = GrpcChannel.ForAddress(server.Address, new GrpcChannelOptions { CompressRequests = true });
        var invoker = channel.CreateCallInvoker();
        var payload = EchoService.Pattern(200_000);

        var unary = await invoker.UnaryAsync(EchoDescriptors.Unary, new EchoRequest { Text = "gz", Payload = payload });
        using var stream = invoker.ClientStream(payload);

        Assert.Equal(payload, unary.Payload);
        Assert.Equal(3 * 200_000, (await stream).TotalPayloadBytes);
    }

    [Fact]
    public async Task A_gzip_frame_on_the_wire_is_decompressed_by_the_server()
    {
        await using var server = await GrpcTestServer.StartAsync();
        using var http = RawHttp2.CreateClient();
        var raw = new EchoRequest { Text = "squeezed" }.ToByteArray();
        using var gz = new MemoryStream();
        using (var z = new GZipStream(gz, CompressionLevel.Optimal, leaveOpen: true)) z.Write(raw);
        var frame = new byte[5 + gz.Length];
        frame[0] = 1;
        BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(1), (uint)gz.Length);
        gz.ToArray().CopyTo(frame, 5);

        using var ok = await RawHttp2.PostAsync(http, server.Address + EchoDescriptors.Unary.FullName, new EchoRequest(),
            r => r.Headers.TryAddWithoutValidation("grpc-encoding", "gzip"), frame);
        var body = await ok.Content.ReadAsByteArrayAsync();
        Assert.Equal("0", ok.TrailingHeaders.GetValues("grpc-status").Single());
        Assert.Equal("squeezed", EchoResponse.Parser.ParseFrom(body.AsSpan(5).ToArray()).Text);

        // The same frame without grpc-encoding is a protocol error.
        using var bad = await RawHttp2.PostAsync(http, server.Address + EchoDescriptors.Unary.FullName, new EchoRequest(), body: frame);
        await bad.Content.ReadAsByteArrayAsync();
        Assert.Equal("13", bad.Headers.GetValues("grpc-status").Single());

        // An encoding we do not know is UNIMPLEMENTED.
        using var unknown = await RawHttp2.PostAsync(http, server.Address + EchoDescriptors.Unary.FullName, new EchoRequest(),
            r => r.Headers.TryAddWithoutValidation("grpc-encoding", "snappy"), frame);
        await unknown.Content.ReadAsByteArrayAsync();
        Assert.Equal("12", unknown.Headers.GetValues("grpc-status").Single());
    }
}

internal static class ClientStreamHelpers
{
    public static AsyncClientStreamingCall<EchoRequest, EchoResponse> ClientStream(this CallInvoker invoker, ByteString payload)
    {
        var call = invoker.ClientStreaming(EchoDescriptors.ClientStream);
        _ = Task.Run(async () =>
        {
            for (var i = 0; i < 3; i++)
                await call.RequestStream.WriteAsync(new EchoRequest { Payload = payload });
            await call.RequestStream.CompleteAsync();
        });
        return call;
    }
}
