using FineTuneLab.Coordinator.Blobs;
using FineTuneLab.Shared.Protos.Agent.V1;
using Google.Protobuf;
using Grpc.Core;

namespace FineTuneLab.Coordinator.AgentGateway;

/// <summary>
/// The gateway's artifact calls: chunked, resumable uploads into the blob store and downloads out of it. An upload
/// for a job is confined (<see cref="AgentConfinement.UploadRefusal"/>): asked before the first byte is taken and
/// again before the artifact is linked to the job, a refusal is PERMISSION_DENIED naming the job and the agent.
/// </summary>
public sealed class ArtifactTransfers(CoordinatorRuntime runtime)
{
    private const int MaxChunk = 1 << 20;

    public async Task<UploadResult> UploadAsync(string agentId, IAsyncStreamReader<ArtifactChunk> requests, CancellationToken cancellationToken)
    {
        BlobStore.UploadInfo? info = null;
        while (await requests.MoveNext(cancellationToken))
        {
            var chunk = requests.Current;
            if (info is null)
            {
                if (!BlobStore.IsSha256(chunk.Sha256) || chunk.UploadId.Length == 0 || chunk.Name.Length == 0)
                    throw Fail(StatusCode.InvalidArgument, "the first chunk must carry upload_id, name and a lowercase hex sha256");
                info = new BlobStore.UploadInfo(chunk.UploadId, chunk.JobId, chunk.Name, chunk.Kind, (long)chunk.TotalSize, chunk.Sha256);
                Confine(agentId, info);
                try { runtime.Blobs.BeginUpload(info); }
                catch (ArgumentException e) { throw Fail(StatusCode.InvalidArgument, e.Message); }
            }
            try
            {
                if (chunk.Data.Length > 0)
                    await runtime.Blobs.AppendAsync(info.UploadId, (long)chunk.Offset, chunk.Data.Memory, cancellationToken);
            }
            catch (InvalidDataException e) { throw Fail(StatusCode.FailedPrecondition, e.Message); }
            if (chunk.Last) break;
        }
        if (info is null) throw Fail(StatusCode.InvalidArgument, "no chunks");
        try { await runtime.Blobs.CompleteUploadAsync(info.UploadId, cancellationToken); }
        catch (InvalidDataException e) { throw Fail(StatusCode.DataLoss, e.Message); }
        // The job may have moved on while the bytes came (ended, re-queued, another checkpoint for the step).
        Confine(agentId, info);
        runtime.RecordArtifact(info.Sha256, info.JobId.Length == 0 ? null : info.JobId, info.Name, info.Kind, info.TotalSize);
        return new UploadResult { Sha256 = info.Sha256, SizeBytes = (ulong)info.TotalSize };
    }

    public UploadStatus Query(UploadQuery request)
    {
        try
        {
            var (received, complete) = runtime.Blobs.QueryUpload(request.UploadId);
            return new UploadStatus { ReceivedBytes = (ulong)received, Complete = complete };
        }
        catch (ArgumentException e) { throw Fail(StatusCode.InvalidArgument, e.Message); }
    }

    public async Task DownloadAsync(DownloadRequest request, IServerStreamWriter<ArtifactChunk> responses, CancellationToken cancellationToken)
    {
        var blobs = runtime.Blobs;
        if (!blobs.Exists(request.Sha256)) throw Fail(StatusCode.NotFound, $"artifact {request.Sha256} is not in the blob store");
        var chunkSize = request.ChunkSize == 0 ? 256 << 10 : (int)Math.Min(request.ChunkSize, MaxChunk);
        await using var file = blobs.OpenRead(request.Sha256);
        var total = file.Length;
        file.Seek((long)request.Offset, SeekOrigin.Begin);
        var buffer = new byte[chunkSize];
        var offset = (long)request.Offset;
        while (true)
        {
            var n = await file.ReadAtLeastAsync(buffer, chunkSize, throwOnEndOfStream: false, cancellationToken);
            var last = offset + n >= total;
            await responses.WriteAsync(new ArtifactChunk
            {
                Sha256 = request.Sha256, TotalSize = (ulong)total, Offset = (ulong)offset, Data = ByteString.CopyFrom(buffer, 0, n), Last = last,
            }, cancellationToken);
            offset += n;
            if (last) break;
        }
    }

    private void Confine(string agentId, BlobStore.UploadInfo info)
    {
        if (info.JobId.Length > 0 && runtime.UploadRefusal(agentId, info.JobId, info.Name, info.Kind, info.Sha256) is { } refused)
            throw Fail(StatusCode.PermissionDenied, $"upload {info.Name} ({info.Kind}) refused: {refused}");
    }

    private static RpcException Fail(StatusCode code, string message) => new(new Status(code, message));
}
