using System.Net;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace FineTuneLab.Shared.Grpc.Server;

/// <summary>Kestrel endpoints for gRPC: HTTP/2 with prior knowledge on <c>http://</c>, HTTP/2 over TLS (ALPN) on <c>https://</c>.</summary>
public static class GrpcKestrelExtensions
{
    /// <summary>
    /// Listens on <paramref name="url"/> (<c>http://127.0.0.1:5001</c>, <c>https://0.0.0.0:5001</c>, <c>http://localhost:0</c>).
    /// An https URL needs <paramref name="certificate"/>.
    /// </summary>
    public static void ListenGrpc(this KestrelServerOptions kestrel, Uri url, X509Certificate2? certificate = null)
    {
        var https = url.Scheme switch
        {
            "http" => false,
            "https" => true,
            _ => throw new ArgumentException($"gRPC URL '{url}' must be http:// (h2c) or https:// (TLS)", nameof(url)),
        };
        if (https && certificate is null)
            throw new ArgumentException($"gRPC URL '{url}' is https but no certificate is configured", nameof(certificate));

        ConfigureHttp2Limits(kestrel);
        Action<ListenOptions> configure = listen =>
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
        };

        kestrel.ListenUrl(url, configure);
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

    /// <summary>Room for many concurrent calls per connection and windows large enough for streaming throughput.</summary>
    public static void ConfigureHttp2Limits(KestrelServerOptions kestrel)
    {
        var h2 = kestrel.Limits.Http2;
        h2.MaxStreamsPerConnection = Math.Max(h2.MaxStreamsPerConnection, 1000);
        h2.InitialConnectionWindowSize = Math.Max(h2.InitialConnectionWindowSize, 4 * 1024 * 1024);
        h2.InitialStreamWindowSize = Math.Max(h2.InitialStreamWindowSize, 2 * 1024 * 1024);
    }
}
