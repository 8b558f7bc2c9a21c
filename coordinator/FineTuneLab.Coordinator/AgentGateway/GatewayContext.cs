using Grpc.Core;

namespace FineTuneLab.Coordinator.AgentGateway;

/// <summary>
/// What the gateway's handlers need from the host: the runtime (null until the store is open, so calls that arrive
/// while the coordinator starts get UNAVAILABLE) and the join token agents register with (null: any caller may).
/// </summary>
public sealed class GatewayContext(Func<CoordinatorRuntime?> runtime, string? joinToken)
{
    public static readonly TimeSpan HeartbeatInterval = TimeSpan.FromSeconds(1);

    public string? JoinToken { get; } = joinToken;

    public CoordinatorRuntime Runtime => runtime() ?? throw new RpcException(new Status(StatusCode.Unavailable, "the coordinator is starting"));
}
