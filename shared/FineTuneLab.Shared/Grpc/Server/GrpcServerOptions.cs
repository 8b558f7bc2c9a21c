namespace FineTuneLab.Shared.Grpc.Server;

/// <summary>Limits and behaviour of the gRPC endpoints; register with <c>services.Configure&lt;GrpcServerOptions&gt;</c> or pass one.</summary>
public sealed class GrpcServerOptions
{
    /// <summary>Largest request message accepted (after decompression); larger ones fail with RESOURCE_EXHAUSTED.</summary>
    public int MaxReceiveMessageSize { get; set; } = GrpcProtocol.DefaultMaxReceiveMessageSize;
    /// <summary>Largest response message a handler may send; null = no limit.</summary>
    public int? MaxSendMessageSize { get; set; }
    /// <summary>Put the exception's type and message into the status of a call whose handler threw (not an RpcException).</summary>
    public bool EnableDetailedErrors { get; set; }
}
