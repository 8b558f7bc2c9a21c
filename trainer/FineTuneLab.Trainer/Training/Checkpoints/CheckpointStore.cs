using System.Globalization;

namespace FineTuneLab.Trainer.Training.Checkpoints;

/// <summary>A checkpoint on disk: its folder, step, total size, and the SHA-256 of its manifest (its identity).</summary>
public sealed record CheckpointInfo(string Path, long Step, long Bytes, string ManifestSha256);

/// <summary>A checkpoint that cannot be trusted, with every missing, extra-sized or corrupt file named.</summary>
public sealed class CheckpointCorruptException(string path, IReadOnlyList<string> problems)
    : Exception($"checkpoint {path} is not usable:\n  " + string.Join("\n  ", problems))
{
    public string CheckpointPath { get; } = path;
    public IReadOnlyList<string> Problems { get; } = problems;
}

/// <summary>
/// <c>DIR/checkpoints/&lt;step&gt;/</c>: each checkpoint is written into a temporary folder beside its final place,
/// its manifest last, flushed, then renamed into place in one step — a kill at any moment leaves either the old
/// set of checkpoints or the old set plus a complete new one (and maybe a temporary folder, removed next time).
/// </summary>
public sealed class CheckpointStore(string checkpointsDirectory)
{
    private const string TempPrefix = ".tmp-";

    public string Directory { get; } = checkpointsDirectory;

    /// <summary>Writes a checkpoint: <paramref name="writeFiles"/> fills the folder it is given.</summary>
    public CheckpointInfo Write(long step, Action<string> writeFiles)
    {
        System.IO.Directory.CreateDirectory(Directory);
        RemoveStaleTemporaries();
        var final = Path.Combine(Directory, step.ToString(CultureInfo.InvariantCulture));
        var temp = Path.Combine(Directory, $"{TempPrefix}{step}-{Environment.ProcessId}-{Guid.NewGuid():N}");
        System.IO.Directory.CreateDirectory(temp);
        try
        {
            writeFiles(temp);
            var manifest = CheckpointManifest.Build(temp, step);
            var manifestPath = Path.Combine(temp, CheckpointManifest.FileName);
            using (var f = new FileStream(manifestPath, FileMode.CreateNew, FileAccess.Write))
            {
                f.Write(manifest.ToUtf8());
                f.Flush(flushToDisk: true);
            }
            FlushFiles(temp);
            if (System.IO.Directory.Exists(final))
            {
                // A re-run of the same step (after a resume): replace, never mix.
                var old = final + ".old-" + Guid.NewGuid().ToString("N");
                System.IO.Directory.Move(final, old);
                System.IO.Directory.Move(temp, final);
                System.IO.Directory.Delete(old, recursive: true);
            }
            else
            {
                System.IO.Directory.Move(temp, final);
            }
            var bytes = manifest.Files.Sum(f => f.Bytes) + new FileInfo(Path.Combine(final, CheckpointManifest.FileName)).Length;
            return new CheckpointInfo(final, step, bytes, CheckpointManifest.Sha256Of(Path.Combine(final, CheckpointManifest.FileName)));
        }
        catch
        {
            if (System.IO.Directory.Exists(temp)) System.IO.Directory.Delete(temp, recursive: true);
            throw;
        }
    }

    /// <summary>Checks every file against the manifest; throws <see cref="CheckpointCorruptException"/> naming each problem.</summary>
    public static CheckpointInfo Verify(string checkpointPath)
    {
        var manifestPath = Path.Combine(checkpointPath, CheckpointManifest.FileName);
        if (!System.IO.Directory.Exists(checkpointPath))
            throw new CheckpointCorruptException(checkpointPath, ["the folder does not exist"]);
        if (!File.Exists(manifestPath))
            throw new CheckpointCorruptException(checkpointPath, [$"{CheckpointManifest.FileName} is missing (the checkpoint was not finished)"]);

        CheckpointManifest manifest;
        try { manifest = CheckpointManifest.Parse(File.ReadAllBytes(manifestPath), manifestPath); }
        catch (Exception e) when (e is System.Text.Json.JsonException or InvalidDataException)
        {
            throw new CheckpointCorruptException(checkpointPath, [$"{CheckpointManifest.FileName} is not valid: {e.Message}"]);
        }

        var problems = new List<string>();
        if (manifest.FormatVersion > CheckpointManifest.CurrentFormatVersion)
            problems.Add($"format version {manifest.FormatVersion} is newer than this ftl-train reads ({CheckpointManifest.CurrentFormatVersion})");
        foreach (var entry in manifest.Files)
        {
            var file = Path.Combine(checkpointPath, entry.Path);
            if (!File.Exists(file)) { problems.Add($"{entry.Path}: missing"); continue; }
            var length = new FileInfo(file).Length;
            if (length != entry.Bytes) { problems.Add($"{entry.Path}: {length} bytes, the manifest says {entry.Bytes}"); continue; }
            if (CheckpointManifest.Sha256Of(file) != entry.Sha256) problems.Add($"{entry.Path}: SHA-256 does not match the manifest (corrupt)");
        }
        if (problems.Count > 0) throw new CheckpointCorruptException(checkpointPath, problems);
        var bytes = manifest.Files.Sum(f => f.Bytes) + new FileInfo(manifestPath).Length;
        return new CheckpointInfo(checkpointPath, manifest.Step, bytes, CheckpointManifest.Sha256Of(manifestPath));
    }

    /// <summary>Finished checkpoints (those with a manifest), oldest step first.</summary>
    public IReadOnlyList<(long Step, string Path)> List()
    {
        if (!System.IO.Directory.Exists(Directory)) return [];
        return System.IO.Directory.GetDirectories(Directory)
            .Select(d => (Name: Path.GetFileName(d), Path: d))
            .Where(d => long.TryParse(d.Name, NumberStyles.None, CultureInfo.InvariantCulture, out _)
                        && File.Exists(Path.Combine(d.Path, CheckpointManifest.FileName)))
            .Select(d => (long.Parse(d.Name, CultureInfo.InvariantCulture), d.Path))
            .OrderBy(d => d.Item1)
            .ToList();
    }

    /// <summary>Deletes all but the newest <paramref name="keepLast"/> checkpoints.</summary>
    public void Prune(int keepLast)
    {
        var all = List();
        foreach (var (_, path) in all.Take(Math.Max(0, all.Count - keepLast)))
            System.IO.Directory.Delete(path, recursive: true);
    }

    private void RemoveStaleTemporaries()
    {
        foreach (var dir in System.IO.Directory.GetDirectories(Directory, TempPrefix + "*"))
        {
            try { System.IO.Directory.Delete(dir, recursive: true); }
            catch (IOException) { /* another writer's, or already gone */ }
        }
    }

    private static void FlushFiles(string directory)
    {
        foreach (var file in System.IO.Directory.EnumerateFiles(directory, "*", SearchOption.AllDirectories))
        {
            using var f = new FileStream(file, FileMode.Open, FileAccess.ReadWrite);
            f.Flush(flushToDisk: true);
        }
    }
}
