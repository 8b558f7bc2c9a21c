namespace FineTuneLab.Coordinator.Store;

/// <summary>The artifacts table (what each blob is: name, kind, size, the job that made it) and the size of a stored checkpoint.</summary>
public static class ArtifactRows
{
    public static void Record(CoordinatorStore store, string sha, string? jobId, string name, string kind, long size)
    {
        using var c = store.OpenConnection();
        Sql.Execute(c, "INSERT OR IGNORE INTO artifacts (sha256, job_id, name, kind, size_bytes, created_at) VALUES ($h, $j, $n, $k, $s, $now)",
            ("$h", sha), ("$j", jobId), ("$n", name), ("$k", kind), ("$s", size), ("$now", Sql.Now()));
    }

    /// <summary>The name and size the blob was first stored under, if it is known.</summary>
    public static (string Name, long Size)? Find(CoordinatorStore store, string sha)
    {
        using var c = store.OpenConnection();
        return Sql.Query(c, "SELECT name, size_bytes FROM artifacts WHERE sha256 = $h LIMIT 1", r => (r.GetString(0), r.GetInt64(1)), ("$h", sha))
            is [var found, ..] ? found : null;
    }

    /// <summary>The newest blob a job stored under <paramref name="name"/>, if any.</summary>
    public static string? LatestOfJob(CoordinatorStore store, string jobId, string name)
    {
        using var c = store.OpenConnection();
        return Sql.Scalar(c, "SELECT sha256 FROM artifacts WHERE job_id = $j AND name = $n ORDER BY created_at DESC LIMIT 1", ("$j", jobId), ("$n", name)) as string;
    }

    /// <summary>The size of a checkpoint blob as its upload recorded it (0 if unknown).</summary>
    public static long CheckpointBytes(CoordinatorStore store, string sha)
    {
        using var c = store.OpenConnection();
        return Convert.ToInt64(Sql.Scalar(c, "SELECT bytes FROM checkpoints WHERE sha256 = $h LIMIT 1", ("$h", sha)) ?? 0L);
    }
}
