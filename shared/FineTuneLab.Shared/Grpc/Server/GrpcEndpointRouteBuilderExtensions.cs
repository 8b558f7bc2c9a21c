using Google.Protobuf;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace FineTuneLab.Shared.Grpc.Server;

/// <summary>Maps gRPC methods onto endpoint routing: each method is a POST to its <c>/package.Service/Method</c> path.</summary>
public static class GrpcEndpointRouteBuilderExtensions
{
    public static IEndpointRouteBuilder MapGrpcService(this IEndpointRouteBuilder endpoints, IGrpcService service)
    {
        service.MapMethods(endpoints);
        return endpoints;
    }

    public static IEndpointConventionBuilder MapGrpcMethod<TRequest, TResponse>(this IEndpointRouteBuilder endpoints,
        GrpcMethod<TRequest, TResponse> method, UnaryServerMethod<TRequest, TResponse> handler)
        where TRequest : class, IMessage<TRequest> where TResponse : class, IMessage<TResponse>
    {
        Expect(method, MethodType.Unary);
        return Map(endpoints, method, async (state, context, reader) =>
        {
            var request = await reader.ReadSingleAsync().ConfigureAwait(false);
            var response = await handler(request, context).ConfigureAwait(false);
            await state.WriteMessageAsync(response, flush: false, context.CancellationToken).ConfigureAwait(false);
        });
    }

    public static IEndpointConventionBuilder MapGrpcMethod<TRequest, TResponse>(this IEndpointRouteBuilder endpoints,
        GrpcMethod<TRequest, TResponse> method, ServerStreamingServerMethod<TRequest, TResponse> handler)
        where TRequest : class, IMessage<TRequest> where TResponse : class, IMessage<TResponse>
    {
        Expect(method, MethodType.ServerStreaming);
        return Map(endpoints, method, async (state, context, reader) =>
        {
            var request = await reader.ReadSingleAsync().ConfigureAwait(false);
            await handler(request, new ResponseStreamWriter<TResponse>(state, context.CancellationToken), context).ConfigureAwait(false);
        });
    }

    public static IEndpointConventionBuilder MapGrpcMethod<TRequest, TResponse>(this IEndpointRouteBuilder endpoints,
        GrpcMethod<TRequest, TResponse> method, ClientStreamingServerMethod<TRequest, TResponse> handler)
        where TRequest : class, IMessage<TRequest> where TResponse : class, IMessage<TResponse>
    {
        Expect(method, MethodType.ClientStreaming);
        return Map(endpoints, method, async (state, context, reader) =>
        {
            var response = await handler(reader, context).ConfigureAwait(false);
            await state.WriteMessageAsync(response, flush: false, context.CancellationToken).ConfigureAwait(false);
        });
    }

    public static IEndpointConventionBuilder MapGrpcMethod<TRequest, TResponse>(this IEndpointRouteBuilder endpoints,
        GrpcMethod<TRequest, TResponse> method, DuplexStreamingServerMethod<TRequest, TResponse> handler)
        where TRequest : class, IMessage<TRequest> where TResponse : class, IMessage<TResponse>
    {
        Expect(method, MethodType.DuplexStreaming);
        return Map(endpoints, method, (state, context, reader) =>
            handler(reader, new ResponseStreamWriter<TResponse>(state, context.CancellationToken), context));
    }

    /// <summary>
    /// Answers gRPC calls to methods nobody mapped with UNIMPLEMENTED (as a trailers-only response), instead of a
    /// bare HTTP 404. Only POSTs of the form <c>/service/method</c> with a gRPC content-type are taken.
    /// </summary>
    public static IEndpointConventionBuilder MapGrpcUnimplemented(this IEndpointRouteBuilder endpoints)
    {
        return endpoints.MapPost("/{service}/{method}", async http =>
        {
            if (!GrpcRequestChecks.Accept(http))
                return;
            var service = http.Request.RouteValues["service"];
            var name = http.Request.RouteValues["method"];
            http.Response.ContentType = GrpcProtocol.ContentType;
            http.Response.Headers[GrpcProtocol.StatusHeader] = ((int)StatusCode.Unimplemented).ToString(System.Globalization.CultureInfo.InvariantCulture);
            http.Response.Headers[GrpcProtocol.MessageHeader] = GrpcProtocol.EncodeMessage($"Method is unimplemented: /{service}/{name}");
            await http.Response.CompleteAsync().ConfigureAwait(false);
        }).WithOrder(int.MaxValue).WithDisplayName("gRPC unimplemented");
    }

    private static IEndpointConventionBuilder Map<TRequest, TResponse>(IEndpointRouteBuilder endpoints,
        GrpcMethod<TRequest, TResponse> method, Func<ServerCallState, ServerCallContext, RequestStreamReader<TRequest>, Task> invoke)
        where TRequest : class, IMessage<TRequest> where TResponse : class, IMessage<TResponse>
    {
        var services = endpoints.ServiceProvider;
        var options = services.GetService<IOptions<GrpcServerOptions>>()?.Value ?? new GrpcServerOptions();
        var logger = services.GetService<ILoggerFactory>()?.CreateLogger("FineTuneLab.Shared.Grpc.Server") ?? NullLogger.Instance;
        var handler = new ServerCallHandler<TRequest, TResponse>(method, invoke, options, logger);
        return endpoints.MapPost(method.FullName, handler.HandleAsync).WithDisplayName("gRPC " + method.FullName);
    }

    private static void Expect<TRequest, TResponse>(GrpcMethod<TRequest, TResponse> method, MethodType type)
        where TRequest : class, IMessage<TRequest> where TResponse : class, IMessage<TResponse>
    {
        if (method.Type != type)
            throw new ArgumentException($"{method.FullName} is a {method.Type} method, but the handler given is for {type}", nameof(method));
    }
}
