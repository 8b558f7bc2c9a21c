using System.Net;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace FineTuneLab.Coordinator.AgentGateway;

/// <summary>Kestrel endpoints for the coordinator's URLs: the gRPC one speaks HTTP/2 with prior knowledge on <c>http://</c> (h2c), HTTP/2 over TLS (ALPN) on <c>https://</c>.</summary>
public static class GrpcListen
{
    public static void ListenGrpc(this KestrelServerOptions kestrel, Uri url, X509Certificate2? certificate)
    {
        var https = url.Scheme switch
        {
            "http" => false,
            "https" => true,
            _ => throw new ArgumentException($"--grpc-url '{url}' must be http:// (h2c) or https:// (TLS)", nameof(url)),
        };
        if (https && certificate is null)
            throw new ArgumentException($"--grpc-url '{url}' is https but no --tls-cert is configured", nameof(certificate));
        // Room for every agent's session and transfers on few connections, windows large enough for streaming telemetry,
        // and pings that close a connection whose agent vanished without a FIN (a cut cable, a dead node).
        var h2 = kestrel.Limits.Http2;
        h2.MaxStreamsPerConnection = Math.Max(h2.MaxStreamsPerConnection, 1000);
        h2.InitialConnectionWindowSize = Math.Max(h2.InitialConnectionWindowSize, 4 * 1024 * 1024);
        h2.InitialStreamWindowSize = Math.Max(h2.InitialStreamWindowSize, 2 * 1024 * 1024);
        h2.KeepAlivePingDelay = TimeSpan.FromSeconds(30);
        h2.KeepAlivePingTimeout = TimeSpan.FromSeconds(20);
        kestrel.ListenUrl(url, listen =>
        {
            if (https)
            {
                listen.Protocols = HttpProtocols.Http1AndHttp2;
                listen.UseHttps(certificate!);
            }
            else
            {
                // Cleartext HTTP/2 has no upgrade negotiation for gRPC: the endpoint speaks only HTTP/2.
                listen.Protocols = HttpProtocols.Http2;
            }
        });
    }

    /// <summary>Listens on the host and port of <paramref name="url"/>: an IP address, localhost, or 0.0.0.0 / * for all.</summary>
    public static void ListenUrl(this KestrelServerOptions kestrel, Uri url, Action<ListenOptions> configure)
    {
        var host = url.Host;
        if (host is "localhost")
            kestrel.ListenLocalhost(url.Port, configure);
        else if (host is "*" or "+" or "0.0.0.0" or "[::]")
            kestrel.ListenAnyIP(url.Port, configure);
        else if (IPAddress.TryParse(host.Trim('[', ']'), out var ip))
            kestrel.Listen(ip, url.Port, configure);
        else
            throw new ArgumentException($"URL '{url}': the host must be an IP address, localhost or 0.0.0.0", nameof(url));
    }
}
