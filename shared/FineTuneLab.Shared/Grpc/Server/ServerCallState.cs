using Google.Protobuf;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace FineTuneLab.Shared.Grpc.Server;

/// <summary>
/// The response side of one call: serializes message writes and the final status so that a deadline firing
/// in the middle of a handler's write still produces one well-formed response.
/// </summary>
internal sealed class ServerCallState(HttpContext http, GrpcServerOptions options, string? requestEncoding)
{
    // HTTP/2 RST_STREAM error code CANCEL (RFC 9113 section 7).
    private const int Http2CancelErrorCode = 0x8;

    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private bool _completed;
    private bool _messageWritten;

    public HttpContext Http { get; } = http;
    public GrpcServerOptions Options { get; } = options;
    public string? RequestEncoding { get; } = requestEncoding;
    public CancellationTokenSource? CallCancellation { get; set; }
    public bool Aborted { get; private set; }

    public async Task WriteResponseHeadersAsync(Metadata headers)
    {
        await _writeLock.WaitAsync().ConfigureAwait(false);
        try
        {
            ThrowIfCompleted();
            if (Http.Response.HasStarted)
                throw new InvalidOperationException("response headers were already sent");
            AddMetadata(Http.Response.Headers, headers);
            await Http.Response.StartAsync().ConfigureAwait(false);
        }
        finally
        {
            _writeLock.Release();
        }
    }

    public async Task WriteMessageAsync<T>(T message, bool flush, CancellationToken cancellationToken) where T : IMessage<T>
    {
        ArgumentNullException.ThrowIfNull(message);
        await _writeLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            ThrowIfCompleted();
            MessageFraming.WriteMessage(Http.Response.BodyWriter, message, Options.MaxSendMessageSize, gzip: false);
            _messageWritten = true;
            if (flush)
                await Http.Response.BodyWriter.FlushAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _writeLock.Release();
        }
    }

    /// <summary>
    /// Ends the response with <paramref name="status"/>: in the trailers, or, when nothing was sent yet,
    /// as a trailers-only response (one HEADERS frame carrying the status).
    /// </summary>
    public async Task CompleteAsync(Status status, Metadata trailers, bool flushNow)
    {
        await _writeLock.WaitAsync().ConfigureAwait(false);
        try
        {
            if (_completed || Aborted)
                return;
            _completed = true;
            var response = Http.Response;
            if (!response.HasStarted && !_messageWritten)
            {
                response.Headers[GrpcProtocol.StatusHeader] = StatusText((int)status.StatusCode);
                if (status.Detail.Length > 0)
                    response.Headers[GrpcProtocol.MessageHeader] = GrpcProtocol.EncodeMessage(status.Detail);
                AddMetadata(response.Headers, trailers);
            }
            else
            {
                response.AppendTrailer(GrpcProtocol.StatusHeader, StatusText((int)status.StatusCode));
                if (status.Detail.Length > 0)
                    response.AppendTrailer(GrpcProtocol.MessageHeader, GrpcProtocol.EncodeMessage(status.Detail));
                foreach (var e in trailers)
                    response.AppendTrailer(e.Key, e.IsBinary ? Metadata.EncodeBase64(e.ValueBytes) : e.Value);
            }
            if (flushNow)
                await response.CompleteAsync().ConfigureAwait(false);
        }
        finally
        {
            _writeLock.Release();
        }
    }

    public void Abort()
    {
        if (Aborted)
            return;
        Aborted = true;
        var reset = Http.Features.Get<IHttpResetFeature>();
        if (reset is not null)
            reset.Reset(Http2CancelErrorCode);
        else
            Http.Abort();
        CallCancellation?.Cancel();
    }

    private void ThrowIfCompleted()
    {
        if (_completed || Aborted)
            throw new InvalidOperationException("the call is already complete (deadline passed, aborted or finished)");
    }

    private static readonly string[] StatusTexts = Enumerable.Range(0, 17).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToArray();

    private static string StatusText(int code) =>
        (uint)code < StatusTexts.Length ? StatusTexts[code] : code.ToString(System.Globalization.CultureInfo.InvariantCulture);

    private static void AddMetadata(IHeaderDictionary headers, Metadata metadata)
    {
        foreach (var e in metadata)
            headers.Append(e.Key, e.IsBinary ? Metadata.EncodeBase64(e.ValueBytes) : e.Value);
    }
}
