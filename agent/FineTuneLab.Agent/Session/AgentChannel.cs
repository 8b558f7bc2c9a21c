using Grpc.Core.Interceptors;
using Grpc.Net.Client;
using Gateway = FineTuneLab.Shared.Protos.Agent.V1.AgentGateway;

namespace FineTuneLab.Agent.Session;

/// <summary>
/// The agent's gRPC channel to the coordinator (Grpc.Net.Client): h2c or TLS by the URL's scheme, HTTP/2 keep-alive
/// pings so a dead connection is noticed within seconds, a connect timeout, and the bearer token on every call
/// (<see cref="AgentCredentials"/>). A
/// fresh channel is made for each session attempt, so a connection that died mid-call is never reused.
/// </summary>
public sealed class AgentChannel : IDisposable
{
    public const int MaxReceiveMessageSize = 4 << 20;
    private readonly GrpcChannel _channel;

    public AgentChannel(Uri coordinator, AgentCredentials credentials)
    {
        var handler = new SocketsHttpHandler
        {
            KeepAlivePingDelay = TimeSpan.FromSeconds(5),
            KeepAlivePingTimeout = TimeSpan.FromSeconds(5),
            KeepAlivePingPolicy = HttpKeepAlivePingPolicy.Always,
            ConnectTimeout = TimeSpan.FromSeconds(5),
            PooledConnectionIdleTimeout = Timeout.InfiniteTimeSpan,
            EnableMultipleHttp2Connections = true,
        };
        _channel = GrpcChannel.ForAddress(coordinator, new GrpcChannelOptions
        {
            HttpHandler = handler,
            DisposeHttpClient = true,
            MaxReceiveMessageSize = MaxReceiveMessageSize,
        });
        Client = new Gateway.AgentGatewayClient(_channel.Intercept(credentials));
    }

    public Gateway.AgentGatewayClient Client { get; }

    public void Dispose() => _channel.Dispose();
}
