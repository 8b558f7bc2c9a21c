using Google.Protobuf;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace FineTuneLab.Shared.Grpc.Server;

/// <summary>
/// Runs one call of one method: checks the request is gRPC, reads deadline and encoding, runs the handler under a
/// token that the client's reset, the deadline or an abort cancels, and ends the response with the status.
/// </summary>
internal sealed class ServerCallHandler<TRequest, TResponse>(
    GrpcMethod<TRequest, TResponse> method,
    Func<ServerCallState, ServerCallContext, RequestStreamReader<TRequest>, Task> invoke,
    GrpcServerOptions options,
    ILogger logger)
    where TRequest : class, IMessage<TRequest>
    where TResponse : class, IMessage<TResponse>
{
    private static readonly Status DeadlineExceeded = new(StatusCode.DeadlineExceeded, "Deadline Exceeded");

    public async Task HandleAsync(HttpContext http)
    {
        if (!GrpcRequestChecks.Accept(http))
            return;

        string? encoding = http.Request.Headers[GrpcProtocol.EncodingHeader];
        var state = new ServerCallState(http, options, encoding);
        var response = http.Response;
        response.ContentType = GrpcProtocol.ContentType;
        response.Headers[GrpcProtocol.AcceptEncodingHeader] = GrpcProtocol.SupportedEncodings;

        if (encoding is not null && !encoding.Equals(GrpcProtocol.IdentityEncoding, StringComparison.OrdinalIgnoreCase) &&
            !encoding.Equals(GrpcProtocol.GzipEncoding, StringComparison.OrdinalIgnoreCase))
        {
            await state.CompleteAsync(new Status(StatusCode.Unimplemented, $"grpc-encoding '{encoding}' is not supported (supported: {GrpcProtocol.SupportedEncodings})"),
                new Metadata(), flushNow: false).ConfigureAwait(false);
            return;
        }

        TimeSpan? timeout = null;
        string? timeoutText = http.Request.Headers[GrpcProtocol.TimeoutHeader];
        if (timeoutText is not null)
        {
            if (!GrpcProtocol.TryParseTimeout(timeoutText, out var t))
            {
                await state.CompleteAsync(new Status(StatusCode.Internal, $"malformed grpc-timeout header '{timeoutText}'"),
                    new Metadata(), flushNow: false).ConfigureAwait(false);
                return;
            }
            timeout = t;
        }

        Metadata requestHeaders;
        try
        {
            requestHeaders = ServerCallContext.ReadRequestHeaders(http.Request);
        }
        catch (RpcException e)
        {
            await state.CompleteAsync(e.Status, new Metadata(), flushNow: false).ConfigureAwait(false);
            return;
        }

        ServerCallContext.DisableBodyLimits(http);
        var deadline = timeout is { } d ? DateTime.UtcNow + d : DateTime.MaxValue;
        using var deadlineCts = timeout is { } dt ? new CancellationTokenSource(dt) : null;
        using var callCts = deadlineCts is null
            ? CancellationTokenSource.CreateLinkedTokenSource(http.RequestAborted)
            : CancellationTokenSource.CreateLinkedTokenSource(http.RequestAborted, deadlineCts.Token);
        state.CallCancellation = callCts;
        var context = new ServerCallContext(state, method.FullName, deadline, requestHeaders, callCts.Token);
        var reader = new RequestStreamReader<TRequest>(state, method.RequestParser, callCts.Token);

        var handlerTask = invoke(state, context, reader);
        if (deadlineCts is not null && !handlerTask.IsCompleted)
        {
            var deadlineTask = Task.Delay(Timeout.Infinite, deadlineCts.Token);
            if (await Task.WhenAny(handlerTask, deadlineTask).ConfigureAwait(false) != handlerTask)
            {
                // The client gets its status now; the handler has been told (its token) and is awaited before the
                // request ends so that it never touches a recycled HttpContext.
                if (!http.RequestAborted.IsCancellationRequested)
                    await state.CompleteAsync(DeadlineExceeded, context.ResponseTrailers, flushNow: true).ConfigureAwait(false);
                await ObserveAsync(handlerTask).ConfigureAwait(false);
                return;
            }
        }

        Status status;
        try
        {
            await handlerTask.ConfigureAwait(false);
            status = Status.DefaultSuccess;
        }
        catch (Exception) when (http.RequestAborted.IsCancellationRequested || state.Aborted)
        {
            return; // the client reset the stream (or the handler aborted it): there is nobody to answer
        }
        catch (RpcException e)
        {
            status = e.Status;
            foreach (var t in e.Trailers)
            {
                if (t.IsBinary) context.ResponseTrailers.Add(t.Key, t.ValueBytes);
                else context.ResponseTrailers.Add(t.Key, t.Value);
            }
        }
        catch (OperationCanceledException) when (deadlineCts?.IsCancellationRequested == true)
        {
            status = DeadlineExceeded;
        }
        catch (OperationCanceledException)
        {
            status = new Status(StatusCode.Cancelled, "the call was cancelled on the server");
        }
        catch (Exception e)
        {
            logger.LogError(e, "gRPC handler for {Method} threw", method.FullName);
            status = new Status(StatusCode.Unknown, options.EnableDetailedErrors
                ? $"Exception was thrown by handler. {e.GetType().Name}: {e.Message}"
                : "Exception was thrown by handler.");
        }

        await state.CompleteAsync(status, context.ResponseTrailers, flushNow: false).ConfigureAwait(false);
    }

    private static async Task ObserveAsync(Task task)
    {
        try
        {
            await task.ConfigureAwait(false);
        }
        catch
        {
            // The call already ended with DEADLINE_EXCEEDED; what the late handler threw changes nothing.
        }
    }
}

/// <summary>What every gRPC request must be before a handler sees it.</summary>
internal static class GrpcRequestChecks
{
    /// <summary>False (and a plain HTTP error response) when the request is not a gRPC call over HTTP/2.</summary>
    public static bool Accept(HttpContext http)
    {
        if (!GrpcProtocol.IsGrpcContentType(http.Request.ContentType))
        {
            http.Response.StatusCode = StatusCodes.Status415UnsupportedMediaType;
            return false;
        }
        if (!HttpProtocol.IsHttp2(http.Request.Protocol) && !HttpProtocol.IsHttp3(http.Request.Protocol))
        {
            http.Response.StatusCode = StatusCodes.Status426UpgradeRequired;
            return false;
        }
        return true;
    }
}
