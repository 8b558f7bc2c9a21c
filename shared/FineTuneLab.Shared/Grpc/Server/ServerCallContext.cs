using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core.Features;

namespace FineTuneLab.Shared.Grpc.Server;

/// <summary>What a handler knows about its call, and how it shapes the response's metadata.</summary>
public sealed class ServerCallContext
{
    private readonly ServerCallState _state;

    internal ServerCallContext(ServerCallState state, string method, DateTime deadline, Metadata requestHeaders,
        CancellationToken cancellationToken)
    {
        _state = state;
        Method = method;
        Deadline = deadline;
        RequestHeaders = requestHeaders;
        CancellationToken = cancellationToken;
    }

    /// <summary>The full method name, e.g. <c>/grpc.health.v1.Health/Check</c>.</summary>
    public string Method { get; }
    /// <summary>When the client gives up (UTC); <see cref="DateTime.MaxValue"/> when it sent no grpc-timeout.</summary>
    public DateTime Deadline { get; }
    public Metadata RequestHeaders { get; }
    /// <summary>Cancelled when the client cancels (RST_STREAM), the deadline passes, or the call is aborted.</summary>
    public CancellationToken CancellationToken { get; }
    /// <summary>Trailers sent with the status when the call ends (also when it ends with an error).</summary>
    public Metadata ResponseTrailers { get; } = new();
    public HttpContext HttpContext => _state.Http;
    public string Host => _state.Http.Request.Host.Value ?? "";

    /// <summary>The client's address, as gRPC names it: <c>ipv4:127.0.0.1:5000</c> or <c>ipv6:[::1]:5000</c>.</summary>
    public string Peer
    {
        get
        {
            var c = _state.Http.Connection;
            if (c.RemoteIpAddress is null)
                return "unknown";
            return c.RemoteIpAddress.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6
                ? $"ipv6:[{c.RemoteIpAddress}]:{c.RemotePort}"
                : $"ipv4:{c.RemoteIpAddress}:{c.RemotePort}";
        }
    }

    /// <summary>The bearer token of the <c>authorization</c> header, or null.</summary>
    public string? BearerToken
    {
        get
        {
            var auth = RequestHeaders.GetValue("authorization");
            const string prefix = "Bearer ";
            return auth is not null && auth.StartsWith(prefix, StringComparison.OrdinalIgnoreCase) ? auth[prefix.Length..].Trim() : null;
        }
    }

    /// <summary>Sends the response headers now (at most once, before the first message).</summary>
    public Task WriteResponseHeadersAsync(Metadata headers) => _state.WriteResponseHeadersAsync(headers);

    /// <summary>
    /// Ends the call abruptly: resets the HTTP/2 stream with CANCEL, so the client sees CANCELLED,
    /// and cancels <see cref="CancellationToken"/>.
    /// </summary>
    public void Abort()
    {
        _state.Abort();
    }

    internal static Metadata ReadRequestHeaders(HttpRequest request)
    {
        var metadata = new Metadata();
        foreach (var (name, values) in request.Headers)
        {
            if (GrpcProtocol.IsReservedHeader(name))
                continue;
            foreach (var v in values)
            {
                if (v is not null)
                    metadata.AddFromWire(name, v);
            }
        }
        return metadata;
    }

    internal static void DisableBodyLimits(HttpContext http)
    {
        // gRPC streams may be long-lived and quiet (agent sessions), and large; the message size limit is ours to enforce.
        if (http.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } size)
            size.MaxRequestBodySize = null;
        if (http.Features.Get<IHttpMinRequestBodyDataRateFeature>() is { } minRequest)
            minRequest.MinDataRate = null;
        if (http.Features.Get<IHttpMinResponseDataRateFeature>() is { } minResponse)
            minResponse.MinDataRate = null;
    }
}
