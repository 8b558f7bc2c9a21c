using System.Buffers;
using System.Globalization;
using System.IO.Pipelines;
using System.Net;
using System.Net.Http;
using System.Net.Http.Headers;
using System.Net.Sockets;
using Google.Protobuf;

namespace FineTuneLab.Shared.Grpc.Client;

/// <summary>
/// One call: one HTTP/2 request. Sends the request (one framed message, or a pushed stream of them), reads framed
/// response messages from the body and the status from the trailers (or from the headers of a trailers-only
/// response), and turns transport failures, cancellation and deadlines into gRPC statuses.
/// </summary>
internal sealed class GrpcCall<TRequest, TResponse> : IAsyncStreamReader<TResponse>, IClientStreamWriter<TRequest>, IDisposable
    where TRequest : class, IMessage<TRequest>
    where TResponse : class, IMessage<TResponse>
{
    private static readonly StreamPipeReaderOptions ReaderOptions = new(bufferSize: 16 * 1024, minimumReadSize: 4 * 1024);
    private static readonly ProductInfoHeaderValue UserAgent = new("ftl-grpc-dotnet", "1.0");

    private readonly GrpcChannel _channel;
    private readonly GrpcMethod<TRequest, TResponse> _method;
    private readonly CallOptions _options;
    private readonly DateTime _deadline;
    private readonly CancellationTokenSource _cts;
    private readonly Lock _gate = new();
    private CancellationTokenRegistration _cancelRegistration;
    private HttpRequestMessage? _request;
    private HttpResponseMessage? _response;
    private PipeReader? _reader;
    private string? _responseEncoding;
    private Metadata? _responseHeaders;
    private Task _sendTask = Task.CompletedTask;
    private Status? _status;
    private Metadata? _trailers;
    private PushStreamContent? _requestStream;
    private ArrayBufferWriter<byte>? _frameBuffer;
    private int _writing;
    private bool _requestCompleted;
    private bool _disposed;
    private TResponse? _current;

    public GrpcCall(GrpcChannel channel, GrpcMethod<TRequest, TResponse> method, CallOptions options)
    {
        _channel = channel;
        _method = method;
        _options = options;
        _deadline = options.Deadline is { } d ? (d.Kind == DateTimeKind.Local ? d.ToUniversalTime() : d) : DateTime.MaxValue;
        _cts = options.CancellationToken.CanBeCanceled
            ? CancellationTokenSource.CreateLinkedTokenSource(options.CancellationToken)
            : new CancellationTokenSource();
    }

    public TResponse Current => _current ?? throw new InvalidOperationException("call MoveNext first");

    // ---- starting ----

    public void StartUnary(TRequest request) => Start(new FramedMessageContent(Frame(request)));

    public void StartStreaming()
    {
        _requestStream = new PushStreamContent();
        Start(_requestStream);
    }

    private void Start(HttpContent content)
    {
        TimeSpan? timeout = null;
        if (_deadline != DateTime.MaxValue)
        {
            var remaining = _deadline - DateTime.UtcNow;
            if (remaining <= TimeSpan.Zero)
            {
                Finish(new Status(StatusCode.DeadlineExceeded, "Deadline Exceeded"), new Metadata());
                content.Dispose();
                return;
            }
            timeout = remaining;
            _cts.CancelAfter(remaining);
        }
        _cancelRegistration = _cts.Token.UnsafeRegister(static s => ((GrpcCall<TRequest, TResponse>)s!).OnCancelled(), this);
        _request = CreateRequest(content, timeout);
        _sendTask = SendAsync(_request);
    }

    private HttpRequestMessage CreateRequest(HttpContent content, TimeSpan? timeout)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, _channel.MethodUri(_method.FullName))
        {
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Content = content,
        };
        var headers = request.Headers;
        headers.TryAddWithoutValidation("te", "trailers");
        headers.UserAgent.Add(UserAgent);
        headers.TryAddWithoutValidation(GrpcProtocol.AcceptEncodingHeader, GrpcProtocol.SupportedEncodings);
        if (_channel.Options.CompressRequests)
            headers.TryAddWithoutValidation(GrpcProtocol.EncodingHeader, GrpcProtocol.GzipEncoding);
        if (timeout is { } t)
            headers.TryAddWithoutValidation(GrpcProtocol.TimeoutHeader, GrpcProtocol.FormatTimeout(t));
        if (_options.Headers is { } metadata)
        {
            foreach (var e in metadata)
                headers.TryAddWithoutValidation(e.Key, e.IsBinary ? Metadata.EncodeBase64(e.ValueBytes) : e.Value);
        }
        return request;
    }

    private async Task SendAsync(HttpRequestMessage request)
    {
        try
        {
            var response = await _channel.Invoker.SendAsync(request, _cts.Token).ConfigureAwait(false);
            lock (_gate)
            {
                _response = response;
                if (_status is not null)
                {
                    response.Dispose(); // cancelled while the headers were on their way
                    return;
                }
            }
            _responseHeaders = ReadMetadata(response.Headers);
            if (CheckResponseHeaders(response) is { } early)
            {
                Finish(early, _responseHeaders);
                return;
            }
            if (response.Content.Headers.TryGetValues(GrpcProtocol.EncodingHeader, out var enc) ||
                response.Headers.TryGetValues(GrpcProtocol.EncodingHeader, out enc))
                _responseEncoding = enc.FirstOrDefault();
            var body = await response.Content.ReadAsStreamAsync(_cts.Token).ConfigureAwait(false);
            _reader = PipeReader.Create(body, ReaderOptions);
        }
        catch (Exception e)
        {
            Finish(MapException(e), new Metadata());
        }
    }

    /// <summary>The status when the headers already end the call (HTTP error, trailers-only response), else null.</summary>
    private static Status? CheckResponseHeaders(HttpResponseMessage response)
    {
        if (response.StatusCode != HttpStatusCode.OK)
            return new Status(MapHttpStatus(response.StatusCode), $"Bad gRPC response. HTTP status code: {(int)response.StatusCode}");
        if (response.Headers.Contains(GrpcProtocol.StatusHeader))
            return ReadStatus(response.Headers);
        var contentType = response.Content.Headers.ContentType?.MediaType;
        if (!GrpcProtocol.IsGrpcContentType(contentType))
            return new Status(StatusCode.Internal, $"Bad gRPC response. Invalid content-type value: {contentType ?? "(none)"}");
        return null;
    }

    // ---- reading responses ----

    public async Task<bool> MoveNext(CancellationToken cancellationToken = default)
    {
        await _sendTask.ConfigureAwait(false);
        if (_status is not null || _reader is null)
            return EndOfStream();

        TResponse? message;
        CancellationTokenSource? linked = null;
        try
        {
            var token = _cts.Token;
            if (cancellationToken.CanBeCanceled)
            {
                linked = CancellationTokenSource.CreateLinkedTokenSource(_cts.Token, cancellationToken);
                token = linked.Token;
            }
            message = await MessageFraming.ReadMessageAsync(_reader, _method.ResponseParser,
                _channel.Options.MaxReceiveMessageSize, _responseEncoding, token).ConfigureAwait(false);
        }
        catch (RpcException e) when (_status is null)
        {
            // A failure of ours (limit, malformed frame): end the call and reset the stream.
            Finish(e.Status, new Metadata());
            Abort();
            throw new RpcException(e.Status, _trailers, e);
        }
        catch (Exception e)
        {
            if (cancellationToken.IsCancellationRequested && _status is null)
            {
                Finish(new Status(StatusCode.Cancelled, "Call canceled by the client."), new Metadata());
                Abort();
            }
            Finish(MapException(e), new Metadata());
            throw new RpcException(_status!.Value, _trailers, e);
        }
        finally
        {
            linked?.Dispose();
        }

        if (message is null)
        {
            var response = _response!;
            Finish(ReadStatus(response.TrailingHeaders), ReadMetadata(response.TrailingHeaders));
            return EndOfStream();
        }
        _current = message;
        return true;
    }

    /// <summary>Unary and client-streaming calls: exactly one response message, then an OK status.</summary>
    public async Task<TResponse> ReadSingleResponseAsync()
    {
        try
        {
            if (!await MoveNext().ConfigureAwait(false))
                throw new RpcException(new Status(StatusCode.Internal, "the call ended without a response message"), _trailers);
            var response = Current;
            if (await MoveNext().ConfigureAwait(false))
            {
                Finish(new Status(StatusCode.Internal, "a unary response carried more than one message"), new Metadata());
                Abort();
                throw new RpcException(_status!.Value);
            }
            return response;
        }
        finally
        {
            ReleaseTransport();
        }
    }

    private bool EndOfStream()
    {
        var status = _status!.Value;
        ReleaseTransport();
        if (status.StatusCode != StatusCode.OK)
            throw new RpcException(status, _trailers);
        return false;
    }

    public async Task<Metadata> ResponseHeadersAsync()
    {
        await _sendTask.ConfigureAwait(false);
        if (_responseHeaders is not null)
            return _responseHeaders;
        throw new RpcException(_status ?? new Status(StatusCode.Internal, "no response headers"), _trailers);
    }

    public Status GetStatus() => _status ?? throw new InvalidOperationException("the call is still in progress");

    public Metadata GetTrailers() => _trailers ?? throw new InvalidOperationException("the call is still in progress");

    // ---- writing requests (client streaming, duplex) ----

    public async Task WriteAsync(TRequest message, CancellationToken cancellationToken = default)
    {
        var content = _requestStream ?? throw new InvalidOperationException($"{_method.FullName} has no request stream");
        if (_requestCompleted)
            throw new InvalidOperationException("the request stream is already complete");
        ThrowIfFinished();
        if (Interlocked.Exchange(ref _writing, 1) == 1)
            throw new InvalidOperationException("a write is already in progress; await it before writing again");
        try
        {
            var token = cancellationToken.CanBeCanceled ? cancellationToken : _cts.Token;
            var stream = await content.StreamAsync.WaitAsync(token).ConfigureAwait(false);
            var buffer = _frameBuffer ??= new ArrayBufferWriter<byte>(256);
            buffer.ResetWrittenCount();
            MessageFraming.WriteMessage(buffer, message, _channel.Options.MaxSendMessageSize, _channel.Options.CompressRequests);
            await stream.WriteAsync(buffer.WrittenMemory, token).ConfigureAwait(false);
            await stream.FlushAsync(token).ConfigureAwait(false);
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.ResourceExhausted && _status is null)
        {
            Finish(e.Status, new Metadata());
            Abort();
            throw;
        }
        catch (Exception e) when (e is not RpcException)
        {
            // Prefer what the server said (e.g. it failed the call and reset the stream) over the transport's error.
            await Task.WhenAny(_sendTask, Task.Delay(100, CancellationToken.None)).ConfigureAwait(false);
            if (_status is null && cancellationToken.IsCancellationRequested)
            {
                Finish(new Status(StatusCode.Cancelled, "Call canceled by the client."), new Metadata());
                Abort();
            }
            if (_status is { StatusCode: not StatusCode.OK } s)
                throw new RpcException(s, _trailers, e);
            throw new RpcException(MapException(e), null, e);
        }
        finally
        {
            Volatile.Write(ref _writing, 0);
        }
    }

    public Task CompleteAsync()
    {
        _requestCompleted = true;
        _requestStream?.Complete();
        return Task.CompletedTask;
    }

    private void ThrowIfFinished()
    {
        if (_status is { } s)
        {
            if (s.StatusCode != StatusCode.OK)
                throw new RpcException(s, _trailers);
            throw new InvalidOperationException("the call is already complete");
        }
    }

    // ---- ending ----

    private void Finish(Status status, Metadata trailers)
    {
        lock (_gate)
        {
            if (_status is not null)
                return;
            _trailers = trailers;
            _status = status;
        }
        _cancelRegistration.Unregister();
        _requestStream?.Complete();
    }

    private void OnCancelled()
    {
        Finish(CancellationStatus() ?? new Status(StatusCode.Cancelled, "Call canceled by the client."), new Metadata());
        Abort();
    }

    /// <summary>Why the call's token fired: the caller's token, or else the deadline timer (nothing else cancels it).</summary>
    private Status? CancellationStatus()
    {
        if (_options.CancellationToken.IsCancellationRequested || _disposed)
            return new Status(StatusCode.Cancelled, "Call canceled by the client.");
        if (_cts.IsCancellationRequested || DateTime.UtcNow >= _deadline)
            return new Status(StatusCode.DeadlineExceeded, "Deadline Exceeded");
        return null;
    }

    /// <summary>Resets the HTTP/2 stream (RST_STREAM CANCEL) if it is still open.</summary>
    private void Abort()
    {
        _requestStream?.Cancel();
        HttpResponseMessage? response;
        lock (_gate) response = _response;
        response?.Dispose();
    }

    private void ReleaseTransport()
    {
        if (_status is { StatusCode: StatusCode.OK })
        {
            _response?.Dispose();
            _request?.Dispose();
        }
    }

    public void Dispose()
    {
        if (_disposed)
            return;
        _disposed = true;
        if (_status is null)
        {
            Finish(new Status(StatusCode.Cancelled, "Call disposed before it finished."), new Metadata());
            Abort();
        }
        _cancelRegistration.Dispose();
        _response?.Dispose();
        _request?.Dispose();
        _cts.Dispose();
    }

    // ---- translations ----

    private byte[] Frame(TRequest message)
    {
        var options = _channel.Options;
        if (!options.CompressRequests)
        {
            var size = message.CalculateSize();
            if (size > options.MaxSendMessageSize)
                throw new RpcException(StatusCode.ResourceExhausted, $"Sending message larger than max ({size} vs. {options.MaxSendMessageSize})");
            var frame = new byte[GrpcProtocol.FrameHeaderSize + size];
            System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(1), (uint)size);
            message.WriteTo(frame.AsSpan(GrpcProtocol.FrameHeaderSize));
            return frame;
        }
        var buffer = new ArrayBufferWriter<byte>();
        MessageFraming.WriteMessage(buffer, message, options.MaxSendMessageSize, gzip: true);
        return buffer.WrittenSpan.ToArray();
    }

    private Status MapException(Exception e)
    {
        if (_status is { } already)
            return already;
        if (CancellationStatus() is { } cancelled)
            return cancelled;
        for (var x = e; x is not null; x = x.InnerException)
        {
            switch (x)
            {
                case RpcException rpc:
                    return rpc.Status;
                case HttpProtocolException p when IsKeepAliveTimeout(p):
                    return new Status(StatusCode.Unavailable, $"the connection to {_channel.Address} is dead: {p.Message}");
                case HttpProtocolException p:
                    return MapHttp2ErrorCode(p.ErrorCode, p.Message);
            }
        }
        for (var x = e; x is not null; x = x.InnerException)
        {
            if (x is HttpRequestException or IOException or SocketException or ObjectDisposedException)
                return new Status(StatusCode.Unavailable, $"Error talking to {_channel.Address}: {e.Message}");
        }
        if (e is OperationCanceledException)
            return new Status(StatusCode.Cancelled, "Call canceled.");
        return new Status(StatusCode.Internal, $"{e.GetType().Name}: {e.Message}");
    }

    /// <summary>
    /// SocketsHttpHandler reports an unanswered keep-alive PING as a PROTOCOL_ERROR of the whole connection, with
    /// nothing but its message to tell it from a peer's RST_STREAM(PROTOCOL_ERROR). A dead transport is UNAVAILABLE.
    /// </summary>
    private static bool IsKeepAliveTimeout(HttpProtocolException e) =>
        e.ErrorCode == 0x1 && e.Message.Contains("ping", StringComparison.OrdinalIgnoreCase);

    /// <summary>RST_STREAM / GOAWAY codes to statuses, as PROTOCOL-HTTP2.md's "Errors" table says.</summary>
    private static Status MapHttp2ErrorCode(long code, string message) => code switch
    {
        0x7 => new Status(StatusCode.Unavailable, $"the server refused the stream: {message}"),
        0x8 => new Status(StatusCode.Cancelled, $"the server cancelled the call: {message}"),
        0xB => new Status(StatusCode.ResourceExhausted, $"the server asked to slow down (ENHANCE_YOUR_CALM): {message}"),
        0xC => new Status(StatusCode.PermissionDenied, $"inadequate security: {message}"),
        _ => new Status(StatusCode.Internal, $"HTTP/2 error 0x{code:X}: {message}"),
    };

    /// <summary>HTTP statuses of non-gRPC responses (e.g. from a proxy), per grpc/doc/http-grpc-status-mapping.md.</summary>
    private static StatusCode MapHttpStatus(HttpStatusCode code) => (int)code switch
    {
        400 => StatusCode.Internal,
        401 => StatusCode.Unauthenticated,
        403 => StatusCode.PermissionDenied,
        404 => StatusCode.Unimplemented,
        429 or 502 or 503 or 504 => StatusCode.Unavailable,
        _ => StatusCode.Unknown,
    };

    private static Status ReadStatus(HttpHeaders headers)
    {
        if (!headers.TryGetValues(GrpcProtocol.StatusHeader, out var values))
            return new Status(StatusCode.Internal, "the response ended without a grpc-status");
        var text = values.First();
        if (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var code))
            return new Status(StatusCode.Internal, $"malformed grpc-status '{text}'");
        var detail = headers.TryGetValues(GrpcProtocol.MessageHeader, out var m) ? GrpcProtocol.DecodeMessage(m.First()) : "";
        return new Status((StatusCode)code, detail);
    }

    private static Metadata ReadMetadata(HttpHeaders headers)
    {
        var metadata = new Metadata();
        foreach (var (name, values) in headers.NonValidated)
        {
            if (GrpcProtocol.IsReservedHeader(name))
                continue;
            foreach (var v in values)
                metadata.AddFromWire(name, v);
        }
        return metadata;
    }
}
