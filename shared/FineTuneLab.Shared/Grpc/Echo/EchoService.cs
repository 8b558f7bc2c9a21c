using FineTuneLab.Shared.Grpc.Server;
using FineTuneLab.Shared.Protos.Test.V1;
using Google.Protobuf;
using Microsoft.AspNetCore.Routing;

namespace FineTuneLab.Shared.Grpc.Echo;

/// <summary>
/// Our implementation of <c>ftl.test.v1.Echo</c>, the service the wire layer's tests, the grpcio interop tests and
/// the benchmark call. Its behaviour is specified in echo.proto; scripts/grpc-interop/echo_server.py mirrors it.
/// </summary>
public sealed class EchoService : IGrpcService
{
    public void MapMethods(IEndpointRouteBuilder endpoints)
    {
        endpoints.MapGrpcMethod(EchoDescriptors.Unary, Unary);
        endpoints.MapGrpcMethod(EchoDescriptors.ServerStream, ServerStream);
        endpoints.MapGrpcMethod(EchoDescriptors.ClientStream, ClientStream);
        endpoints.MapGrpcMethod(EchoDescriptors.Duplex, Duplex);
    }

    public static async Task<EchoResponse> Unary(EchoRequest request, ServerCallContext context)
    {
        await EchoMetadataAsync(context).ConfigureAwait(false);
        await DelayAsync(request, context).ConfigureAwait(false);
        FailIfAsked(request);
        return Answer(request, context, index: 0);
    }

    public static async Task ServerStream(EchoRequest request, IServerStreamWriter<EchoResponse> responses, ServerCallContext context)
    {
        await EchoMetadataAsync(context).ConfigureAwait(false);
        var count = Math.Max(1, request.Repeat);
        for (var i = 0; i < count; i++)
        {
            await DelayAsync(request, context).ConfigureAwait(false);
            await responses.WriteAsync(Answer(request, context, i)).ConfigureAwait(false);
        }
        FailIfAsked(request);
    }

    public static async Task<EchoResponse> ClientStream(IAsyncStreamReader<EchoRequest> requests, ServerCallContext context)
    {
        await EchoMetadataAsync(context).ConfigureAwait(false);
        var texts = new System.Text.StringBuilder();
        var count = 0;
        long payloadBytes = 0;
        while (await requests.MoveNext().ConfigureAwait(false))
        {
            var request = requests.Current;
            await DelayAsync(request, context).ConfigureAwait(false);
            FailIfAsked(request);
            texts.Append(request.Text);
            payloadBytes += request.Payload.Length;
            count++;
        }
        return new EchoResponse
        {
            Text = texts.ToString(),
            Index = count,
            TotalPayloadBytes = payloadBytes,
            MetadataEcho = context.RequestHeaders.GetValue("x-echo") ?? "",
            AuthorizationEcho = context.RequestHeaders.GetValue("authorization") ?? "",
        };
    }

    public static async Task Duplex(IAsyncStreamReader<EchoRequest> requests, IServerStreamWriter<EchoResponse> responses,
        ServerCallContext context)
    {
        await EchoMetadataAsync(context).ConfigureAwait(false);
        var index = 0;
        while (await requests.MoveNext().ConfigureAwait(false))
        {
            var request = requests.Current;
            await DelayAsync(request, context).ConfigureAwait(false);
            FailIfAsked(request);
            await responses.WriteAsync(Answer(request, context, index++)).ConfigureAwait(false);
        }
    }

    private static EchoResponse Answer(EchoRequest request, ServerCallContext context, int index) => new()
    {
        Text = request.Text,
        Payload = request.ResponsePayloadBytes > 0 ? Pattern(request.ResponsePayloadBytes) : request.Payload,
        Index = index,
        MetadataEcho = context.RequestHeaders.GetValue("x-echo") ?? "",
        AuthorizationEcho = context.RequestHeaders.GetValue("authorization") ?? "",
    };

    /// <summary>Bytes i % 251: a pattern a test can check without keeping a copy.</summary>
    public static ByteString Pattern(int length)
    {
        var bytes = new byte[length];
        for (var i = 0; i < length; i++)
            bytes[i] = (byte)(i % 251);
        return UnsafeByteOperations.UnsafeWrap(bytes);
    }

    private static async Task EchoMetadataAsync(ServerCallContext context)
    {
        var echo = context.RequestHeaders.GetValue("x-echo");
        if (echo is not null)
        {
            await context.WriteResponseHeadersAsync(new Metadata().Add("x-echo-response", echo)).ConfigureAwait(false);
            context.ResponseTrailers.Add("x-echo-trailer", echo);
        }
        if (context.RequestHeaders.GetValueBytes("x-echo-bin") is { } bytes)
            context.ResponseTrailers.Add("x-echo-bin", bytes);
    }

    private static Task DelayAsync(EchoRequest request, ServerCallContext context) =>
        request.DelayMs > 0 ? Task.Delay(request.DelayMs, context.CancellationToken) : Task.CompletedTask;

    private static void FailIfAsked(EchoRequest request)
    {
        if (request.FailWithStatus != 0)
            throw new RpcException((StatusCode)request.FailWithStatus, request.FailMessage);
    }
}
