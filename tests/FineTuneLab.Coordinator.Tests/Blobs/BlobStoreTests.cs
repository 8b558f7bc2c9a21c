using System.Security.Cryptography;
using FineTuneLab.Coordinator.Blobs;

namespace FineTuneLab.Coordinator.Tests.Blobs;

public sealed class BlobStoreTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ftl-blobs-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task Put_stores_by_sha256_and_is_idempotent()
    {
        var store = new BlobStore(_dir);
        var bytes = RandomNumberGenerator.GetBytes(100_000);
        var (sha, size) = await store.PutAsync(new MemoryStream(bytes), CancellationToken.None);
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(bytes)), sha);
        Assert.Equal(bytes.Length, size);
        Assert.Equal(Path.Combine(_dir, "blobs", sha[..2], sha[2..]), store.PathOf(sha));
        Assert.Equal(sha, (await store.PutAsync(new MemoryStream(bytes), CancellationToken.None)).Sha256);
        Assert.Empty(Directory.GetFiles(Path.Combine(_dir, "uploads")));
    }

    [Fact]
    public async Task An_interrupted_upload_resumes_at_the_received_offset_and_is_verified()
    {
        var bytes = RandomNumberGenerator.GetBytes(300_000);
        var sha = Convert.ToHexStringLower(SHA256.HashData(bytes));
        var info = new BlobStore.UploadInfo("up-1", "job_1", "checkpoint-5.tar", "checkpoint", bytes.Length, sha);
        var store = new BlobStore(_dir);
        store.BeginUpload(info);
        await store.AppendAsync("up-1", 0, bytes.AsMemory(0, 120_000), CancellationToken.None);

        // A new process (restarted coordinator) sees what arrived, refuses a chunk at the wrong offset, then completes.
        var again = new BlobStore(_dir);
        Assert.Equal((120_000L, false), again.QueryUpload("up-1"));
        await Assert.ThrowsAsync<InvalidDataException>(() => again.AppendAsync("up-1", 0, bytes.AsMemory(0, 10), CancellationToken.None));
        again.BeginUpload(info);
        await again.AppendAsync("up-1", 120_000, bytes.AsMemory(120_000), CancellationToken.None);
        await again.CompleteUploadAsync("up-1", CancellationToken.None);
        Assert.Equal(bytes, await File.ReadAllBytesAsync(again.PathOf(sha)));
        Assert.Equal((300_000L, true), again.QueryUpload("up-1"));
    }

    [Fact]
    public async Task A_corrupted_upload_is_refused_and_not_stored()
    {
        var bytes = RandomNumberGenerator.GetBytes(1000);
        var sha = Convert.ToHexStringLower(SHA256.HashData(bytes));
        var store = new BlobStore(_dir);
        store.BeginUpload(new BlobStore.UploadInfo("up-2", "", "x", "dataset", bytes.Length, sha));
        bytes[10] ^= 1;
        await store.AppendAsync("up-2", 0, bytes, CancellationToken.None);
        var e = await Assert.ThrowsAsync<InvalidDataException>(() => store.CompleteUploadAsync("up-2", CancellationToken.None));
        Assert.Contains("SHA-256 mismatch", e.Message);
        Assert.False(store.Exists(sha));
        Assert.Equal((0L, false), store.QueryUpload("up-2"));
    }

    [Fact]
    public async Task A_restart_sweeps_what_a_crash_left_and_keeps_uploads_that_can_still_resume()
    {
        var store = new BlobStore(_dir);
        var uploads = Path.Combine(_dir, "uploads");
        var bytes = RandomNumberGenerator.GetBytes(1000);
        var sha = Convert.ToHexStringLower(SHA256.HashData(bytes));
        store.BeginUpload(new BlobStore.UploadInfo("fresh", "", "x", "dataset", bytes.Length, sha));
        await store.AppendAsync("fresh", 0, bytes.AsMemory(0, 500), CancellationToken.None);
        store.BeginUpload(new BlobStore.UploadInfo("stale", "", "y", "dataset", bytes.Length, sha));
        await store.AppendAsync("stale", 0, bytes.AsMemory(0, 500), CancellationToken.None);
        File.SetLastWriteTimeUtc(Path.Combine(uploads, "stale.part"), DateTime.UtcNow - BlobStore.AbandonedUploadAge - TimeSpan.FromHours(1));
        // A REST upload cut by the crash, and a declaration written halfway.
        await File.WriteAllBytesAsync(Path.Combine(uploads, "put-0123.tmp"), bytes);
        await File.WriteAllTextAsync(Path.Combine(uploads, "fresh.json.tmp"), "{");

        var restarted = new BlobStore(_dir);
        Assert.Equal(["fresh.json", "fresh.part"], Directory.GetFiles(uploads).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        Assert.Equal((500L, false), restarted.QueryUpload("fresh"));
        Assert.Equal((0L, false), restarted.QueryUpload("stale"));
    }
}
