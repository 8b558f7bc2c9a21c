using Grpc.Core;
using Grpc.Core.Interceptors;

namespace FineTuneLab.Agent.Session;

/// <summary>
/// The bearer token on every call, added by a client interceptor: <c>Register</c> carries the join token, every other
/// call the agent's own token and <c>x-ftl-agent-id</c> (both learnt at registration, forgotten when the coordinator
/// no longer knows them). An interceptor rather than call credentials, because those grpc-dotnet only sends over TLS
/// and an operator may run the coordinator over h2c on a private network.
/// </summary>
public sealed class AgentCredentials(string joinToken) : Interceptor
{
    public const string AgentIdHeader = "x-ftl-agent-id";
    private volatile Identity? _identity;

    private sealed record Identity(string AgentId, string Token);

    public bool IsRegistered => _identity is not null;
    public string AgentId => _identity?.AgentId ?? "";

    public void Registered(string agentId, string token) => _identity = new Identity(agentId, token);

    /// <summary>The coordinator answered UNAUTHENTICATED to the agent token (its store was reset): register again.</summary>
    public void Forget() => _identity = null;

    public override AsyncUnaryCall<TResponse> AsyncUnaryCall<TRequest, TResponse>(TRequest request,
        ClientInterceptorContext<TRequest, TResponse> context, AsyncUnaryCallContinuation<TRequest, TResponse> continuation) =>
        continuation(request, WithToken(context));

    public override AsyncClientStreamingCall<TRequest, TResponse> AsyncClientStreamingCall<TRequest, TResponse>(
        ClientInterceptorContext<TRequest, TResponse> context, AsyncClientStreamingCallContinuation<TRequest, TResponse> continuation) =>
        continuation(WithToken(context));

    public override AsyncServerStreamingCall<TResponse> AsyncServerStreamingCall<TRequest, TResponse>(TRequest request,
        ClientInterceptorContext<TRequest, TResponse> context, AsyncServerStreamingCallContinuation<TRequest, TResponse> continuation) =>
        continuation(request, WithToken(context));

    public override AsyncDuplexStreamingCall<TRequest, TResponse> AsyncDuplexStreamingCall<TRequest, TResponse>(
        ClientInterceptorContext<TRequest, TResponse> context, AsyncDuplexStreamingCallContinuation<TRequest, TResponse> continuation) =>
        continuation(WithToken(context));

    private ClientInterceptorContext<TRequest, TResponse> WithToken<TRequest, TResponse>(ClientInterceptorContext<TRequest, TResponse> context)
        where TRequest : class where TResponse : class
    {
        var headers = context.Options.Headers ?? [];
        if (context.Method.Name == "Register" || _identity is not { } id)
        {
            headers.Add("authorization", "Bearer " + joinToken);
        }
        else
        {
            headers.Add("authorization", "Bearer " + id.Token);
            headers.Add(AgentIdHeader, id.AgentId);
        }
        return new ClientInterceptorContext<TRequest, TResponse>(context.Method, context.Host, context.Options.WithHeaders(headers));
    }
}
