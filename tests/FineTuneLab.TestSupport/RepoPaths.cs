namespace FineTuneLab.TestSupport;

/// <summary>Where things are, found from the test assembly's location so tests run from any working directory.</summary>
public static class RepoPaths
{
    private static readonly Lazy<string> RootLazy = new(FindRoot);

    /// <summary>The repository root (the folder holding FineTuneLab.Compute.sln).</summary>
    public static string Root => RootLazy.Value;

    /// <summary>The shared test data that lives beside the repository (<c>../shared/testdata</c>), or FTL_SHARED_DIR/testdata.</summary>
    public static string SharedTestData
    {
        get
        {
            var shared = Environment.GetEnvironmentVariable("FTL_SHARED_DIR") ?? Path.Combine(Root, "..", "shared");
            return Path.GetFullPath(Path.Combine(shared, "testdata"));
        }
    }

    public static string Scripts => Path.Combine(Root, "scripts");

    /// <summary>A per-run cache for generated fixtures (reference data keyed by content hash), ignored by git.</summary>
    public static string Cache
    {
        get
        {
            var dir = Path.Combine(Root, ".cache");
            Directory.CreateDirectory(dir);
            return dir;
        }
    }

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "FineTuneLab.Compute.sln")))
                return dir.FullName;
        }
        throw new InvalidOperationException($"FineTuneLab.Compute.sln not found above {AppContext.BaseDirectory}");
    }
}
