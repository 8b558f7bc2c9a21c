using FineTuneLab.Shared.Protos.Test.V1;

namespace FineTuneLab.Shared.Grpc.Echo;

/// <summary>The methods of <c>ftl.test.v1.Echo</c> (Protos/ftl/test/v1/echo.proto).</summary>
public static class EchoDescriptors
{
    public const string ServiceName = "ftl.test.v1.Echo";

    public static readonly GrpcMethod<EchoRequest, EchoResponse> Unary =
        new(MethodType.Unary, ServiceName, "Unary", EchoRequest.Parser, EchoResponse.Parser);

    public static readonly GrpcMethod<EchoRequest, EchoResponse> ServerStream =
        new(MethodType.ServerStreaming, ServiceName, "ServerStream", EchoRequest.Parser, EchoResponse.Parser);

    public static readonly GrpcMethod<EchoRequest, EchoResponse> ClientStream =
        new(MethodType.ClientStreaming, ServiceName, "ClientStream", EchoRequest.Parser, EchoResponse.Parser);

    public static readonly GrpcMethod<EchoRequest, EchoResponse> Duplex =
        new(MethodType.DuplexStreaming, ServiceName, "Duplex", EchoRequest.Parser, EchoResponse.Parser);
}
