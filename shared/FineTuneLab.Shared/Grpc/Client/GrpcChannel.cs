using System.Net.Http;
using System.Net.Security;

namespace FineTuneLab.Shared.Grpc.Client;

/// <summary>
/// A connection to one gRPC server address. Calls share one HTTP/2 connection (multiplexed); when it drops, the
/// calls on it fail with UNAVAILABLE and the next call opens a new one.
/// </summary>
public sealed class GrpcChannel : IDisposable
{
    private GrpcChannel(Uri address, GrpcChannelOptions options)
    {
        if (address.Scheme is not ("http" or "https"))
            throw new ArgumentException($"gRPC address '{address}' must be http:// (h2c) or https://", nameof(address));
        Address = address;
        Options = options;
        Invoker = new HttpMessageInvoker(options.HttpHandler ?? CreateHandler(options), disposeHandler: true);
    }

    public Uri Address { get; }
    public GrpcChannelOptions Options { get; }
    internal HttpMessageInvoker Invoker { get; }

    public static GrpcChannel ForAddress(string address, GrpcChannelOptions? options = null) =>
        ForAddress(new Uri(address), options);

    public static GrpcChannel ForAddress(Uri address, GrpcChannelOptions? options = null) =>
        new(address, options ?? new GrpcChannelOptions());

    public CallInvoker CreateCallInvoker() => new(this);

    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, Uri> _methodUris = new(StringComparer.Ordinal);

    // Parsing a Uri per call is measurable on the unary hot path; a channel calls a handful of methods.
    internal Uri MethodUri(string fullName) => _methodUris.GetOrAdd(fullName, static (name, address) => new Uri(address, name), Address);

    public void Dispose() => Invoker.Dispose();

    private static SocketsHttpHandler CreateHandler(GrpcChannelOptions options)
    {
        var handler = new SocketsHttpHandler
        {
            // One connection carries every call (HTTP/2 multiplexing); calls beyond the server's stream limit queue.
            EnableMultipleHttp2Connections = false,
            KeepAlivePingDelay = options.KeepAlivePingDelay,
            KeepAlivePingTimeout = options.KeepAlivePingTimeout,
            KeepAlivePingPolicy = options.KeepAlivePingPolicy,
            ConnectTimeout = options.ConnectTimeout,
            PooledConnectionIdleTimeout = Timeout.InfiniteTimeSpan,
            UseProxy = false,
            UseCookies = false,
            AllowAutoRedirect = false,
            AutomaticDecompression = System.Net.DecompressionMethods.None,
        };
        if (options.ServerCertificateValidation is { } validate)
            handler.SslOptions = new SslClientAuthenticationOptions { RemoteCertificateValidationCallback = validate };
        return handler;
    }
}
