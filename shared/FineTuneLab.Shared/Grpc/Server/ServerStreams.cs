using Google.Protobuf;

namespace FineTuneLab.Shared.Grpc.Server;

/// <summary>Reads request messages straight from the HTTP/2 request body pipe.</summary>
internal sealed class RequestStreamReader<T>(ServerCallState state, MessageParser<T> parser, CancellationToken callToken)
    : IAsyncStreamReader<T> where T : class, IMessage<T>
{
    private T? _current;

    public T Current => _current ?? throw new InvalidOperationException("call MoveNext first");

    public async Task<bool> MoveNext(CancellationToken cancellationToken = default)
    {
        if (!cancellationToken.CanBeCanceled)
        {
            _current = await ReadAsync(callToken).ConfigureAwait(false);
        }
        else
        {
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(callToken, cancellationToken);
            _current = await ReadAsync(linked.Token).ConfigureAwait(false);
        }
        return _current is not null;
    }

    public ValueTask<T?> ReadAsync(CancellationToken cancellationToken) =>
        MessageFraming.ReadMessageAsync(state.Http.Request.BodyReader, parser, state.Options.MaxReceiveMessageSize,
            state.RequestEncoding, cancellationToken);

    /// <summary>Unary and server-streaming calls: exactly one request message, then the end of the stream.</summary>
    public async Task<T> ReadSingleAsync()
    {
        var message = await ReadAsync(callToken).ConfigureAwait(false)
                      ?? throw new RpcException(StatusCode.Internal, "the request stream ended without a message");
        if (await ReadAsync(callToken).ConfigureAwait(false) is not null)
            throw new RpcException(StatusCode.Internal, "a unary request stream carried more than one message");
        return message;
    }
}

internal sealed class ResponseStreamWriter<T>(ServerCallState state, CancellationToken callToken) : IServerStreamWriter<T>
    where T : IMessage<T>
{
    public async Task WriteAsync(T message, CancellationToken cancellationToken = default)
    {
        if (!cancellationToken.CanBeCanceled)
        {
            await state.WriteMessageAsync(message, flush: true, callToken).ConfigureAwait(false);
            return;
        }
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(callToken, cancellationToken);
        await state.WriteMessageAsync(message, flush: true, linked.Token).ConfigureAwait(false);
    }
}
