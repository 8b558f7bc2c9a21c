using System.Net.Http;

namespace FineTuneLab.Shared.Grpc.Client;

public sealed class GrpcChannelOptions
{
    /// <summary>Largest response message accepted (after decompression); larger ones fail the call with RESOURCE_EXHAUSTED.</summary>
    public int MaxReceiveMessageSize { get; set; } = GrpcProtocol.DefaultMaxReceiveMessageSize;
    /// <summary>Largest request message sent; null = no limit.</summary>
    public int? MaxSendMessageSize { get; set; }
    /// <summary>Compress request messages with gzip (the server must accept gzip, as ours and grpcio do).</summary>
    public bool CompressRequests { get; set; }
    /// <summary>Idle time after which an HTTP/2 PING checks the connection is alive; <see cref="Timeout.InfiniteTimeSpan"/> turns pings off.</summary>
    public TimeSpan KeepAlivePingDelay { get; set; } = TimeSpan.FromSeconds(60);
    /// <summary>How long a PING may go unanswered before the connection is dropped (its calls fail with UNAVAILABLE).</summary>
    public TimeSpan KeepAlivePingTimeout { get; set; } = TimeSpan.FromSeconds(20);
    /// <summary>Ping only while calls are open (the default; right for long-lived streams) or always.</summary>
    public HttpKeepAlivePingPolicy KeepAlivePingPolicy { get; set; } = HttpKeepAlivePingPolicy.WithActiveRequests;
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(10);
    /// <summary>For https: accept this server certificate validation instead of the system's (e.g. a pinned self-signed certificate).</summary>
    public System.Net.Security.RemoteCertificateValidationCallback? ServerCertificateValidation { get; set; }
    /// <summary>Replaces the handler the channel builds (tests, custom transports). The channel disposes it.</summary>
    public HttpMessageHandler? HttpHandler { get; set; }
}
