using FineTuneLab.Shared.Protos.Agent.V1;

namespace FineTuneLab.Shared.Grpc.Agent;

/// <summary>The methods of <c>ftl.agent.v1.AgentGateway</c> (Protos/ftl/agent/v1/agent.proto), the agent ↔ coordinator contract.</summary>
public static class AgentGatewayDescriptors
{
    public const string ServiceName = "ftl.agent.v1.AgentGateway";

    public static readonly GrpcMethod<RegisterRequest, RegisterResponse> Register =
        new(MethodType.Unary, ServiceName, "Register", RegisterRequest.Parser, RegisterResponse.Parser);

    public static readonly GrpcMethod<AgentMessage, CoordinatorMessage> Session =
        new(MethodType.DuplexStreaming, ServiceName, "Session", AgentMessage.Parser, CoordinatorMessage.Parser);

    public static readonly GrpcMethod<ArtifactChunk, UploadResult> UploadArtifact =
        new(MethodType.ClientStreaming, ServiceName, "UploadArtifact", ArtifactChunk.Parser, UploadResult.Parser);

    public static readonly GrpcMethod<UploadQuery, UploadStatus> QueryUpload =
        new(MethodType.Unary, ServiceName, "QueryUpload", UploadQuery.Parser, UploadStatus.Parser);

    public static readonly GrpcMethod<DownloadRequest, ArtifactChunk> DownloadArtifact =
        new(MethodType.ServerStreaming, ServiceName, "DownloadArtifact", DownloadRequest.Parser, ArtifactChunk.Parser);
}
