using FineTuneLab.Trainer.Training.Dpo;

namespace FineTuneLab.Trainer.Tests.Dpo;

/// <summary>
/// The reference log-probability cache: its key follows every input the references depend on (base model content,
/// engine settings, computation, tokenized pairs), a saved file is read back bit for bit instead of recomputing, a
/// damaged file is recomputed, and files are written whole (no temporaries left behind).
/// </summary>
public sealed class DpoReferenceCacheTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ftl-dpo-cache-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static List<DpoPair> Pairs() =>
    [
        new([5, 6, 7, 8], [-100, -100, 7, 8], [5, 6, 9], [-100, -100, 9]),
        new([1, 2, 3], [-100, 2, 3], [1, 4, 4, 4], [-100, 4, 4, 4]),
    ];

    private string Model()
    {
        var model = Path.Combine(_dir, "model");
        Directory.CreateDirectory(model);
        File.WriteAllText(Path.Combine(model, "config.json"), """{"model_type": "llama"}""");
        File.WriteAllBytes(Path.Combine(model, "model.safetensors"), [1, 2, 3, 4]);
        File.WriteAllText(Path.Combine(model, "README.md"), "not part of the key");
        return model;
    }

    [Fact]
    public void Key_changes_with_every_input_it_depends_on()
    {
        var model = Model();
        var pairs = Pairs();
        var key = DpoReferenceCache.Key(model, "cpu|fp32", "training", pairs);
        Assert.Equal(key, DpoReferenceCache.Key(model, "cpu|fp32", "training", Pairs()));
        File.WriteAllText(Path.Combine(model, "README.md"), "edited");
        Assert.Equal(key, DpoReferenceCache.Key(model, "cpu|fp32", "training", pairs));

        Assert.NotEqual(key, DpoReferenceCache.Key(model, "cpu|bf16", "training", pairs));
        Assert.NotEqual(key, DpoReferenceCache.Key(model, "cpu|fp32", "evaluation", pairs));
        var relabelled = Pairs();
        relabelled[1].RejectedLabels[1] = -100;
        Assert.NotEqual(key, DpoReferenceCache.Key(model, "cpu|fp32", "training", relabelled));
        Assert.NotEqual(key, DpoReferenceCache.Key(model, "cpu|fp32", "training", pairs.Take(1).ToList()));
        File.WriteAllBytes(Path.Combine(model, "model.safetensors"), [1, 2, 3, 5]);
        Assert.NotEqual(key, DpoReferenceCache.Key(model, "cpu|fp32", "training", pairs));
    }

    [Fact]
    public void Saved_references_are_read_back_instead_of_recomputed_and_damaged_files_are_recomputed()
    {
        var pairs = Pairs();
        var folder = Path.Combine(_dir, "run1", "dpo-reference");
        int computed = 0;
        DpoReference[] Compute(IReadOnlyList<DpoPair> p)
        {
            computed++;
            return p.Select((_, i) => new DpoReference(-10.123456789012345 * (i + 1), -20.5 / 3 * (i + 1))).ToArray();
        }
        var key = new string('a', 64);

        var first = DpoReferenceCache.GetOrCompute([folder], key, pairs, Compute, out var fromCache);
        Assert.False(fromCache);
        Assert.Equal(1, computed);
        Assert.Equal([key + ".bin"], Directory.GetFiles(folder).Select(Path.GetFileName));

        var again = DpoReferenceCache.GetOrCompute([folder], key, pairs, Compute, out fromCache);
        Assert.True(fromCache);
        Assert.Equal(1, computed);
        Assert.Equal(first, again); // bit for bit: the doubles round-trip exactly

        // a resumed run in a new folder finds the earlier run's file and keeps a copy
        var folder2 = Path.Combine(_dir, "run2", "dpo-reference");
        Assert.Equal(first, DpoReferenceCache.GetOrCompute([folder2, folder], key, pairs, Compute, out fromCache));
        Assert.True(fromCache);
        Assert.True(File.Exists(Path.Combine(folder2, key + ".bin")));

        var file = Path.Combine(folder, key + ".bin");
        File.WriteAllBytes(file, File.ReadAllBytes(file)[..^3]);
        DpoReferenceCache.GetOrCompute([folder], key, pairs, Compute, out fromCache);
        Assert.False(fromCache);
        Assert.Equal(2, computed);
        Assert.Equal(first, DpoReferenceCache.TryRead([folder], key, pairs.Count));
        Assert.Null(DpoReferenceCache.TryRead([folder], key, pairs.Count + 1));
        Assert.Equal([key + ".bin"], Directory.GetFiles(folder).Select(Path.GetFileName));
    }
}
