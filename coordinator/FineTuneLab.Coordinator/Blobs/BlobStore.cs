using System.Security.Cryptography;
using System.Text.Json;

namespace FineTuneLab.Coordinator.Blobs;

/// <summary>
/// Content-addressed filesystem blob store: a blob lives at <c>DIR/blobs/ab/cdef…</c> (its SHA-256, hex), written to a
/// temporary file and renamed into place so a reader never sees a partial blob. Resumable uploads keep their bytes in
/// <c>DIR/uploads/&lt;upload id&gt;.part</c> until the last chunk arrives and the hash is verified.
/// </summary>
public sealed class BlobStore
{
    private readonly string _blobs;
    private readonly string _uploads;
    private readonly object _gate = new();

    public BlobStore(string directory)
    {
        _blobs = Path.Combine(directory, "blobs");
        _uploads = Path.Combine(directory, "uploads");
        Directory.CreateDirectory(_blobs);
        Directory.CreateDirectory(_uploads);
        SweepLeftovers();
    }

    /// <summary>How long an unfinished resumable upload is kept for its uploader to come back and finish it.</summary>
    public static readonly TimeSpan AbandonedUploadAge = TimeSpan.FromDays(7);

    /// <summary>
    /// What a crash leaves behind: a REST upload's temp file (never resumable) and a declaration's temp file go at
    /// start; an unfinished resumable upload stays (its uploader resumes it after our restart) unless it has not
    /// grown for <see cref="AbandonedUploadAge"/>.
    /// </summary>
    private void SweepLeftovers()
    {
        foreach (var tmp in Directory.EnumerateFiles(_uploads, "*.tmp")) File.Delete(tmp);
        var cutoff = DateTime.UtcNow - AbandonedUploadAge;
        foreach (var part in Directory.EnumerateFiles(_uploads, "*.part"))
        {
            if (File.GetLastWriteTimeUtc(part) >= cutoff) continue;
            File.Delete(part);
            File.Delete(Path.ChangeExtension(part, ".json"));
        }
    }

    public static bool IsSha256(string? text) =>
        text is { Length: 64 } && text.All(c => c is >= '0' and <= '9' or >= 'a' and <= 'f');

    public string PathOf(string sha256)
    {
        if (!IsSha256(sha256)) throw new ArgumentException($"'{sha256}' is not a lowercase hex SHA-256", nameof(sha256));
        return Path.Combine(_blobs, sha256[..2], sha256[2..]);
    }

    public bool Exists(string sha256) => IsSha256(sha256) && File.Exists(PathOf(sha256));

    public long SizeOf(string sha256) => new FileInfo(PathOf(sha256)).Length;

    public Stream OpenRead(string sha256) =>
        new FileStream(PathOf(sha256), FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, useAsync: true);

    /// <summary>Stores the whole stream, hashing it on the way; answers its SHA-256 and size.</summary>
    public async Task<(string Sha256, long Size)> PutAsync(Stream content, CancellationToken cancellationToken)
    {
        var tmp = Path.Combine(_uploads, $"put-{Guid.NewGuid():N}.tmp");
        try
        {
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            long size = 0;
            await using (var file = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, useAsync: true))
            {
                var buffer = new byte[1 << 16];
                int n;
                while ((n = await content.ReadAsync(buffer, cancellationToken)) > 0)
                {
                    hash.AppendData(buffer, 0, n);
                    await file.WriteAsync(buffer.AsMemory(0, n), cancellationToken);
                    size += n;
                }
            }
            var sha = Convert.ToHexStringLower(hash.GetHashAndReset());
            Publish(tmp, sha);
            return (sha, size);
        }
        finally
        {
            if (File.Exists(tmp)) File.Delete(tmp);
        }
    }

    /// <summary>What a resumable upload declared in its first chunk.</summary>
    public sealed record UploadInfo(string UploadId, string JobId, string Name, string Kind, long TotalSize, string Sha256);

    /// <summary>Bytes received so far for an upload (0 when unknown), and whether it already completed.</summary>
    public (long Received, bool Complete) QueryUpload(string uploadId)
    {
        var (part, meta) = UploadPaths(uploadId);
        lock (_gate)
        {
            if (File.Exists(meta) && ReadInfo(meta) is { } info && Exists(info.Sha256) && !File.Exists(part))
                return (info.TotalSize, true);
            return (File.Exists(part) ? new FileInfo(part).Length : 0, false);
        }
    }

    /// <summary>Records an upload's declaration (first chunk of each attempt); a different declaration restarts it.</summary>
    public void BeginUpload(UploadInfo info)
    {
        var (part, meta) = UploadPaths(info.UploadId);
        lock (_gate)
        {
            if (File.Exists(meta) && ReadInfo(meta) is { } old && old == info) return;
            if (File.Exists(part)) File.Delete(part);
            var tmp = meta + ".tmp";
            File.WriteAllText(tmp, JsonSerializer.Serialize(info));
            File.Move(tmp, meta, overwrite: true);
        }
    }

    /// <summary>Appends a chunk at <paramref name="offset"/>, which must be where the upload stopped receiving.</summary>
    public async Task AppendAsync(string uploadId, long offset, ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        var (part, _) = UploadPaths(uploadId);
        await using var file = new FileStream(part, FileMode.OpenOrCreate, FileAccess.Write, FileShare.None, 1 << 16, useAsync: true);
        if (file.Length != offset)
            throw new InvalidDataException($"upload {uploadId}: chunk at offset {offset}, but {file.Length} bytes were received (ask QueryUpload)");
        file.Seek(offset, SeekOrigin.Begin);
        await file.WriteAsync(data, cancellationToken);
    }

    /// <summary>Verifies size and SHA-256 of a finished upload and moves it into the store.</summary>
    public async Task<UploadInfo> CompleteUploadAsync(string uploadId, CancellationToken cancellationToken)
    {
        var (part, meta) = UploadPaths(uploadId);
        var info = ReadInfo(meta) ?? throw new InvalidDataException($"upload {uploadId}: unknown upload");
        var size = File.Exists(part) ? new FileInfo(part).Length : 0;
        if (size != info.TotalSize)
            throw new InvalidDataException($"upload {uploadId}: received {size} bytes, declared {info.TotalSize}");
        string sha;
        await using (var file = new FileStream(part, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, useAsync: true))
            sha = Convert.ToHexStringLower(await SHA256.HashDataAsync(file, cancellationToken));
        if (sha != info.Sha256)
        {
            File.Delete(part);
            throw new InvalidDataException($"upload {uploadId}: SHA-256 mismatch (declared {info.Sha256}, received {sha}); upload again");
        }
        lock (_gate) Publish(part, sha);
        return info;
    }

    private void Publish(string tmp, string sha)
    {
        var target = PathOf(sha);
        Directory.CreateDirectory(Path.GetDirectoryName(target)!);
        if (File.Exists(target)) File.Delete(tmp);
        else File.Move(tmp, target, overwrite: true);
    }

    private (string Part, string Meta) UploadPaths(string uploadId)
    {
        if (uploadId.Length is 0 or > 128 || !uploadId.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.'))
            throw new ArgumentException($"upload id '{uploadId}' must be 1–128 of [A-Za-z0-9._-]");
        return (Path.Combine(_uploads, uploadId + ".part"), Path.Combine(_uploads, uploadId + ".json"));
    }

    private static UploadInfo? ReadInfo(string meta) =>
        File.Exists(meta) ? JsonSerializer.Deserialize<UploadInfo>(File.ReadAllText(meta)) : null;
}
