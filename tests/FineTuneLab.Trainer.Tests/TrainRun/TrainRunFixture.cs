using System.Text.Json;
using System.Text.Json.Nodes;
using FineTuneLab.TestSupport;

namespace FineTuneLab.Trainer.Tests.TrainRun;

/// <summary>
/// A small LoRA job on the sample model (samples/models/tiny) and a slice of the sample chats, in a temporary folder;
/// the reference (uninterrupted) run is done once and shared.
/// </summary>
public sealed class TrainRunFixture : IAsyncLifetime
{
    public string Folder { get; } = Directory.CreateTempSubdirectory("ftl-trainrun-").FullName;
    public string Job => Path.Combine(Folder, "job.json");
    public string ReferenceOut => Path.Combine(Folder, "reference");
    public IReadOnlyList<JsonElement> ReferenceEvents { get; private set; } = [];
    public const int Steps = 10;

    public static string SampleModel => Path.Combine(RepoPaths.Root, "samples", "models", "tiny");

    public async Task InitializeAsync()
    {
        var lines = File.ReadLines(Path.Combine(RepoPaths.Root, "samples", "data", "train.jsonl")).Take(48);
        File.WriteAllLines(Path.Combine(Folder, "train.jsonl"), lines);
        WriteJob(Job, Steps);
        using var run = TrainProcess.Start("--config", Job, "--out", ReferenceOut, "--threads", "2");
        var (code, err) = await run.WaitAsync();
        Assert.True(code == 0, $"reference run exited {code}:\n{err}");
        ReferenceEvents = run.Events.ToList();
    }

    /// <summary>LoRA with dropout (so the RNG state matters), packing, accumulation, warmup + cosine, eval and checkpoints.</summary>
    public string WriteJob(string path, int maxSteps, Action<JsonObject>? edit = null)
    {
        var job = new JsonObject
        {
            ["name"] = "trainrun-test",
            ["model"] = new JsonObject { ["path"] = SampleModel },
            ["method"] = "lora",
            ["lora"] = new JsonObject { ["r"] = 4, ["alpha"] = 8, ["dropout"] = 0.1, ["target_modules"] = new JsonArray("q_proj", "v_proj", "down_proj") },
            ["data"] = new JsonObject { ["train"] = Path.Combine(Folder, "train.jsonl"), ["validation_fraction"] = 0.1 },
            ["max_seq_len"] = 128,
            ["packing"] = true,
            ["micro_batch_size"] = 2,
            ["gradient_accumulation_steps"] = 2,
            ["max_steps"] = maxSteps,
            ["optimizer"] = new JsonObject { ["learning_rate"] = 5e-3, ["weight_decay"] = 0.01 },
            ["scheduler"] = new JsonObject { ["type"] = "cosine", ["warmup_steps"] = 2 },
            ["seed"] = 7,
            ["eval"] = new JsonObject { ["every_steps"] = 5, ["max_batches"] = 2 },
            ["checkpoint"] = new JsonObject { ["every_steps"] = 3, ["keep_last"] = 2 },
        };
        edit?.Invoke(job);
        File.WriteAllText(path, job.ToJsonString());
        return path;
    }

    public Task DisposeAsync()
    {
        Directory.Delete(Folder, recursive: true);
        return Task.CompletedTask;
    }
}
