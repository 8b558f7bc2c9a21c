using System.Runtime.CompilerServices;

namespace FineTuneLab.Shared.Grpc.Client;

/// <summary>What every call offers besides its messages: headers, and once it ended, status and trailers.</summary>
public abstract class AsyncCallBase(Func<Task<Metadata>> headers, Func<Status> status, Func<Metadata> trailers, Action dispose)
    : IDisposable
{
    /// <summary>The response headers; throws <see cref="RpcException"/> if the call failed before any arrived.</summary>
    public Task<Metadata> ResponseHeadersAsync => headers();
    public Status GetStatus() => status();
    public Metadata GetTrailers() => trailers();
    /// <summary>Cancels the call if it is still running (RST_STREAM) and frees its resources.</summary>
    public void Dispose() => dispose();
}

/// <summary>A unary call; <c>await</c> it for the response.</summary>
public sealed class AsyncUnaryCall<TResponse>(Task<TResponse> response, Func<Task<Metadata>> headers, Func<Status> status,
    Func<Metadata> trailers, Action dispose) : AsyncCallBase(headers, status, trailers, dispose)
{
    public Task<TResponse> ResponseAsync { get; } = response;
    public TaskAwaiter<TResponse> GetAwaiter() => ResponseAsync.GetAwaiter();
}

public sealed class AsyncServerStreamingCall<TResponse>(IAsyncStreamReader<TResponse> responseStream, Func<Task<Metadata>> headers,
    Func<Status> status, Func<Metadata> trailers, Action dispose) : AsyncCallBase(headers, status, trailers, dispose)
{
    public IAsyncStreamReader<TResponse> ResponseStream { get; } = responseStream;
}

public sealed class AsyncClientStreamingCall<TRequest, TResponse>(IClientStreamWriter<TRequest> requestStream, Task<TResponse> response,
    Func<Task<Metadata>> headers, Func<Status> status, Func<Metadata> trailers, Action dispose)
    : AsyncCallBase(headers, status, trailers, dispose)
{
    public IClientStreamWriter<TRequest> RequestStream { get; } = requestStream;
    public Task<TResponse> ResponseAsync { get; } = response;
    public TaskAwaiter<TResponse> GetAwaiter() => ResponseAsync.GetAwaiter();
}

public sealed class AsyncDuplexStreamingCall<TRequest, TResponse>(IClientStreamWriter<TRequest> requestStream,
    IAsyncStreamReader<TResponse> responseStream, Func<Task<Metadata>> headers, Func<Status> status, Func<Metadata> trailers,
    Action dispose) : AsyncCallBase(headers, status, trailers, dispose)
{
    public IClientStreamWriter<TRequest> RequestStream { get; } = requestStream;
    public IAsyncStreamReader<TResponse> ResponseStream { get; } = responseStream;
}
