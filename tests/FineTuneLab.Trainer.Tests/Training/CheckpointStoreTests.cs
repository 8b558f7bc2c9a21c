using FineTuneLab.Trainer.Training.Checkpoints;

namespace FineTuneLab.Trainer.Tests.Training;

public sealed class CheckpointStoreTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("ftl-ckpt-");
    private CheckpointStore Store => new(Path.Combine(_dir.FullName, "checkpoints"));

    private static void TwoFiles(string dir)
    {
        File.WriteAllText(Path.Combine(dir, "state.json"), """{"step": 10}""");
        Directory.CreateDirectory(Path.Combine(dir, "adapter"));
        File.WriteAllBytes(Path.Combine(dir, "adapter", "weights.bin"), Enumerable.Range(0, 1000).Select(i => (byte)i).ToArray());
    }

    [Fact]
    public void A_written_checkpoint_verifies_and_lists()
    {
        var info = Store.Write(10, TwoFiles);
        Assert.Equal(Path.Combine(Store.Directory, "10"), info.Path);
        Assert.True(info.Bytes > 1000);
        Assert.Equal(64, info.ManifestSha256.Length);
        var verified = CheckpointStore.Verify(info.Path);
        Assert.Equal((10L, info.ManifestSha256, info.Bytes), (verified.Step, verified.ManifestSha256, verified.Bytes));
        Assert.Equal([10L], Store.List().Select(c => c.Step));
    }

    [Fact]
    public void Corruption_and_missing_files_are_named()
    {
        var info = Store.Write(10, TwoFiles);
        var weights = Path.Combine(info.Path, "adapter", "weights.bin");
        var bytes = File.ReadAllBytes(weights);
        bytes[500] ^= 0xFF;
        File.WriteAllBytes(weights, bytes);
        File.Delete(Path.Combine(info.Path, "state.json"));

        var e = Assert.Throws<CheckpointCorruptException>(() => CheckpointStore.Verify(info.Path));
        Assert.Equal(2, e.Problems.Count);
        Assert.Contains("adapter/weights.bin: SHA-256 does not match the manifest (corrupt)", e.Problems);
        Assert.Contains("state.json: missing", e.Problems);

        File.WriteAllBytes(weights, bytes[..10]);
        Assert.Contains(Assert.Throws<CheckpointCorruptException>(() => CheckpointStore.Verify(info.Path)).Problems,
            p => p.StartsWith("adapter/weights.bin: 10 bytes, the manifest says 1000", StringComparison.Ordinal));
    }

    [Fact]
    public void A_write_cut_short_leaves_no_checkpoint_and_is_cleaned_up_next_time()
    {
        Assert.Throws<IOException>(() => Store.Write(20, dir =>
        {
            TwoFiles(dir);
            throw new IOException("disk full");
        }));
        Assert.Empty(Store.List());
        Assert.Empty(Directory.GetDirectories(Store.Directory));

        // A kill mid-write leaves a temporary folder: not a checkpoint, and removed by the next write.
        Directory.CreateDirectory(Path.Combine(Store.Directory, ".tmp-30-1-abc"));
        Directory.CreateDirectory(Path.Combine(Store.Directory, "40")); // no manifest: unfinished
        Assert.Empty(Store.List());
        Store.Write(50, TwoFiles);
        Assert.False(Directory.Exists(Path.Combine(Store.Directory, ".tmp-30-1-abc")));
        Assert.Contains("manifest.json is missing", Assert.Throws<CheckpointCorruptException>(() => CheckpointStore.Verify(Path.Combine(Store.Directory, "40"))).Message);
    }

    [Fact]
    public void Prune_keeps_the_newest_and_rewriting_a_step_replaces_it()
    {
        foreach (var step in new long[] { 5, 10, 15, 20 }) Store.Write(step, TwoFiles);
        Store.Prune(2);
        Assert.Equal([15L, 20L], Store.List().Select(c => c.Step));

        Store.Write(20, dir => File.WriteAllText(Path.Combine(dir, "state.json"), "{}"));
        var files = Directory.GetFiles(Path.Combine(Store.Directory, "20"), "*", SearchOption.AllDirectories).Select(Path.GetFileName).Order();
        Assert.Equal(["manifest.json", "state.json"], files);
    }

    public void Dispose() => _dir.Delete(true);
}
