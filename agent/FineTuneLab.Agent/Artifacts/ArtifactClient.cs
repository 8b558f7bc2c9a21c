using System.Security.Cryptography;
using FineTuneLab.Shared.Protos.Agent.V1;
using Google.Protobuf;
using Grpc.Core;
using Gateway = FineTuneLab.Shared.Protos.Agent.V1.AgentGateway;

namespace FineTuneLab.Agent.Artifacts;

/// <summary>
/// Moves artifacts between the node and the coordinator's blob store: downloads into a cache keyed by SHA-256
/// (verified, resumed from a partial file), uploads in chunks that resume from what QueryUpload says arrived.
/// </summary>
public sealed class ArtifactClient(Func<Gateway.AgentGatewayClient> client, string cacheDir)
{
    private const int ChunkSize = 512 << 10;

    /// <summary>The cached file of an artifact, downloading it first when needed.</summary>
    public async Task<string> FetchAsync(string sha256, CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(cacheDir);
        var path = Path.Combine(cacheDir, sha256);
        if (File.Exists(path)) return path;
        var part = path + ".part";
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await using (var file = new FileStream(part, FileMode.OpenOrCreate, FileAccess.Write))
                {
                    file.Seek(0, SeekOrigin.End);
                    using var call = client().DownloadArtifact(new DownloadRequest { Sha256 = sha256, Offset = (ulong)file.Length, ChunkSize = ChunkSize },
                        cancellationToken: cancellationToken);
                    while (await call.ResponseStream.MoveNext(cancellationToken))
                    {
                        call.ResponseStream.Current.Data.WriteTo(file);
                        if (call.ResponseStream.Current.Last) break;
                    }
                }
                string actual;
                await using (var read = File.OpenRead(part)) actual = Convert.ToHexStringLower(await SHA256.HashDataAsync(read, cancellationToken));
                if (actual != sha256)
                {
                    File.Delete(part);
                    throw new InvalidDataException($"artifact {sha256}: downloaded bytes hash to {actual}");
                }
                File.Move(part, path, overwrite: true);
                return path;
            }
            catch (Exception e) when (attempt < 5 && e is RpcException or IOException && !cancellationToken.IsCancellationRequested)
            {
                await Task.Delay(TimeSpan.FromSeconds(attempt), cancellationToken);
            }
        }
    }

    /// <summary>Uploads a file (resumable by <paramref name="uploadId"/>); answers its SHA-256.</summary>
    public async Task<string> UploadAsync(string file, string uploadId, string jobId, string name, string kind, CancellationToken cancellationToken)
    {
        string sha;
        await using (var read = File.OpenRead(file)) sha = Convert.ToHexStringLower(await SHA256.HashDataAsync(read, cancellationToken));
        var total = new FileInfo(file).Length;
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                var status = await client().QueryUploadAsync(new UploadQuery { UploadId = uploadId }, cancellationToken: cancellationToken);
                if (status.Complete) return sha;
                var offset = (long)status.ReceivedBytes;
                if (offset > total) offset = 0;
                using var call = client().UploadArtifact(cancellationToken: cancellationToken);
                await using var source = File.OpenRead(file);
                source.Seek(offset, SeekOrigin.Begin);
                var buffer = new byte[ChunkSize];
                do
                {
                    var n = await source.ReadAtLeastAsync(buffer, ChunkSize, throwOnEndOfStream: false, cancellationToken);
                    await call.RequestStream.WriteAsync(new ArtifactChunk
                    {
                        UploadId = uploadId, JobId = jobId, Name = name, Kind = kind, TotalSize = (ulong)total, Sha256 = sha,
                        Offset = (ulong)offset, Data = ByteString.CopyFrom(buffer, 0, n), Last = offset + n >= total,
                    }, cancellationToken);
                    offset += n;
                } while (offset < total);
                await call.RequestStream.CompleteAsync();
                var result = await call.ResponseAsync;
                if (result.Sha256 != sha) throw new InvalidDataException($"{name}: coordinator stored {result.Sha256}, expected {sha}");
                return sha;
            }
            catch (RpcException) when (attempt < 8 && !cancellationToken.IsCancellationRequested)
            {
                await Task.Delay(TimeSpan.FromSeconds(Math.Min(10, attempt)), cancellationToken);
            }
        }
    }
}
