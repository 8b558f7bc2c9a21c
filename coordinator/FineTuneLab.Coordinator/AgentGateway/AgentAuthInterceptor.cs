using Grpc.Core;
using FineTuneLab.Coordinator.Store;
using Grpc.Core.Interceptors;
using Microsoft.Extensions.Options;

namespace FineTuneLab.Coordinator.AgentGateway;

/// <summary>
/// Authenticates every call of the agent gateway before its handler runs: <c>Register</c> carries the join token
/// (<c>authorization: Bearer &lt;--agent-token&gt;</c>), every other call the agent's own token plus
/// <c>x-ftl-agent-id</c>. Tokens are compared in fixed time; a caller that fails gets UNAUTHENTICATED.
/// </summary>
public sealed class AgentAuthInterceptor(CoordinatorHealth health, IOptions<CoordinatorOptions> options) : Interceptor
{
    public const string AgentIdHeader = "x-ftl-agent-id";
    private const string AgentIdKey = "ftl.agent-id";
    private static readonly string RegisterMethod = $"/{FineTuneLab.Shared.Protos.Agent.V1.AgentGateway.Descriptor.FullName}/Register";

    /// <summary>The authenticated agent of a call (set by the interceptor; every call but Register has one).</summary>
    public static string AgentId(ServerCallContext context) =>
        context.UserState.TryGetValue(AgentIdKey, out var id) ? (string)id : throw new RpcException(new Status(StatusCode.Unauthenticated, "no authenticated agent"));

    public override Task<TResponse> UnaryServerHandler<TRequest, TResponse>(TRequest request, ServerCallContext context,
        UnaryServerMethod<TRequest, TResponse> continuation)
    {
        Authenticate(context);
        return continuation(request, context);
    }

    public override Task<TResponse> ClientStreamingServerHandler<TRequest, TResponse>(IAsyncStreamReader<TRequest> requestStream,
        ServerCallContext context, ClientStreamingServerMethod<TRequest, TResponse> continuation)
    {
        Authenticate(context);
        return continuation(requestStream, context);
    }

    public override Task ServerStreamingServerHandler<TRequest, TResponse>(TRequest request, IServerStreamWriter<TResponse> responseStream,
        ServerCallContext context, ServerStreamingServerMethod<TRequest, TResponse> continuation)
    {
        Authenticate(context);
        return continuation(request, responseStream, context);
    }

    public override Task DuplexStreamingServerHandler<TRequest, TResponse>(IAsyncStreamReader<TRequest> requestStream,
        IServerStreamWriter<TResponse> responseStream, ServerCallContext context, DuplexStreamingServerMethod<TRequest, TResponse> continuation)
    {
        Authenticate(context);
        return continuation(requestStream, responseStream, context);
    }

    private void Authenticate(ServerCallContext context)
    {
        // Until the store is open no call can be served (the services it needs are built with the store).
        if (!health.IsStoreOpen) throw new RpcException(new Status(StatusCode.Unavailable, "the coordinator is starting"));
        var token = BearerToken(context.RequestHeaders);
        if (context.Method == RegisterMethod)
        {
            if (options.Value.AgentToken is { } join && !Security.Secrets.FixedTimeEquals(token, join))
                throw new RpcException(new Status(StatusCode.Unauthenticated, "the join token (authorization: Bearer …) is missing or wrong"));
            return;
        }
        var id = context.RequestHeaders.GetValue(AgentIdHeader);
        if (id is null || !context.GetHttpContext().RequestServices.GetRequiredService<AgentStore>().Authenticate(id, token))
            throw new RpcException(new Status(StatusCode.Unauthenticated, $"unknown agent or wrong agent token ({AgentIdHeader}: {id ?? "missing"})"));
        context.UserState[AgentIdKey] = id;
    }

    private static string? BearerToken(Metadata headers) =>
        headers.GetValue("authorization") is { } value && value.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) ? value["Bearer ".Length..].Trim() : null;
}
