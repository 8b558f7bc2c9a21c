using Google.Protobuf;

namespace FineTuneLab.Shared.Grpc.Client;

/// <summary>Starts calls on a channel, one method per call kind (like grpc-dotnet's CallInvoker).</summary>
public sealed class CallInvoker(GrpcChannel channel)
{
    public GrpcChannel Channel { get; } = channel;

    public AsyncUnaryCall<TResponse> UnaryAsync<TRequest, TResponse>(GrpcMethod<TRequest, TResponse> method, TRequest request,
        CallOptions options = default)
        where TRequest : class, IMessage<TRequest> where TResponse : class, IMessage<TResponse>
    {
        Expect(method, MethodType.Unary);
        var call = new GrpcCall<TRequest, TResponse>(Channel, method, options);
        call.StartUnary(request);
        return new AsyncUnaryCall<TResponse>(ReadAndDispose(call), call.ResponseHeadersAsync, call.GetStatus, call.GetTrailers, call.Dispose);
    }

    public AsyncServerStreamingCall<TResponse> ServerStreaming<TRequest, TResponse>(GrpcMethod<TRequest, TResponse> method,
        TRequest request, CallOptions options = default)
        where TRequest : class, IMessage<TRequest> where TResponse : class, IMessage<TResponse>
    {
        Expect(method, MethodType.ServerStreaming);
        var call = new GrpcCall<TRequest, TResponse>(Channel, method, options);
        call.StartUnary(request);
        return new AsyncServerStreamingCall<TResponse>(call, call.ResponseHeadersAsync, call.GetStatus, call.GetTrailers, call.Dispose);
    }

    public AsyncClientStreamingCall<TRequest, TResponse> ClientStreaming<TRequest, TResponse>(GrpcMethod<TRequest, TResponse> method,
        CallOptions options = default)
        where TRequest : class, IMessage<TRequest> where TResponse : class, IMessage<TResponse>
    {
        Expect(method, MethodType.ClientStreaming);
        var call = new GrpcCall<TRequest, TResponse>(Channel, method, options);
        call.StartStreaming();
        return new AsyncClientStreamingCall<TRequest, TResponse>(call, ReadAndDispose(call), call.ResponseHeadersAsync,
            call.GetStatus, call.GetTrailers, call.Dispose);
    }

    public AsyncDuplexStreamingCall<TRequest, TResponse> Duplex<TRequest, TResponse>(GrpcMethod<TRequest, TResponse> method,
        CallOptions options = default)
        where TRequest : class, IMessage<TRequest> where TResponse : class, IMessage<TResponse>
    {
        Expect(method, MethodType.DuplexStreaming);
        var call = new GrpcCall<TRequest, TResponse>(Channel, method, options);
        call.StartStreaming();
        return new AsyncDuplexStreamingCall<TRequest, TResponse>(call, call, call.ResponseHeadersAsync, call.GetStatus,
            call.GetTrailers, call.Dispose);
    }

    private static async Task<TResponse> ReadAndDispose<TRequest, TResponse>(GrpcCall<TRequest, TResponse> call)
        where TRequest : class, IMessage<TRequest> where TResponse : class, IMessage<TResponse>
    {
        try
        {
            return await call.ReadSingleResponseAsync().ConfigureAwait(false);
        }
        finally
        {
            // The status and trailers stay readable; the HTTP/2 stream is released.
            call.Dispose();
        }
    }

    private static void Expect<TRequest, TResponse>(GrpcMethod<TRequest, TResponse> method, MethodType type)
        where TRequest : class, IMessage<TRequest> where TResponse : class, IMessage<TResponse>
    {
        if (method.Type != type)
            throw new ArgumentException($"{method.FullName} is a {method.Type} method, not {type}", nameof(method));
    }
}
