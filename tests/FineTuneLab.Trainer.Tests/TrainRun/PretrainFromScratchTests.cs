using System.Text.Json.Nodes;
using FineTuneLab.Trainer.Formats;

namespace FineTuneLab.Trainer.Tests.TrainRun;

/// <summary>
/// Method full from a model folder with config.json and no weights (random init from the seed) on plain text (data
/// format text): writes a Hugging Face model folder, and a resumed run reproduces it bit for bit.
/// </summary>
[Collection(TrainRunCollection.Name)]
public sealed class PretrainFromScratchTests(TrainRunFixture fixture)
{
    [Fact]
    public async Task Full_training_from_random_weights_on_text_resumes_exactly()
    {
        var model = Path.Combine(fixture.Folder, "scratch-model");
        Directory.CreateDirectory(model);
        foreach (var f in new[] { "config.json", "tokenizer.json", "tokenizer_config.json" })
            File.Copy(Path.Combine(TrainRunFixture.SampleModel, f), Path.Combine(model, f));
        var corpus = Path.Combine(fixture.Folder, "corpus.txt");
        File.WriteAllLines(corpus, File.ReadLines(Path.Combine(FineTuneLab.TestSupport.RepoPaths.Root, "samples", "data", "corpus.txt")).Take(120));
        var job = Path.Combine(fixture.Folder, "scratch.json");
        File.WriteAllText(job, new JsonObject
        {
            ["model"] = new JsonObject { ["path"] = model },
            ["method"] = "full",
            ["data"] = new JsonObject { ["train"] = corpus, ["format"] = "text", ["validation_fraction"] = 0.1 },
            ["max_seq_len"] = 64,
            ["micro_batch_size"] = 4,
            ["max_steps"] = 5,
            ["optimizer"] = new JsonObject { ["learning_rate"] = 3e-3 },
            ["seed"] = 11,
            ["checkpoint"] = new JsonObject { ["every_steps"] = 2 },
        }.ToJsonString());

        var straight = Path.Combine(fixture.Folder, "scratch-straight");
        using (var run = TrainProcess.Start("--config", job, "--out", straight, "--threads", "2"))
        {
            var (code, err) = await run.WaitAsync();
            Assert.True(code == 0, $"exit {code}:\n{err}");
            var losses = TrainProcess.Losses(run.Events);
            Assert.Equal(5, losses.Count);
            Assert.True(losses[1] > 6.0, $"a random model over 1024 tokens starts near ln(1024) = 6.93, got {losses[1]}");
            Assert.True(losses[5] < losses[1]);
            Assert.Contains(run.Events, e => TrainProcess.IsType(e, "eval"));
        }
        using (var weights = SafeTensorStore.Open(Path.Combine(straight, "model")))
        {
            Assert.Contains("model.embed_tokens.weight", weights.Names);
            Assert.Contains("model.layers.3.mlp.down_proj.weight", weights.Names);
        }
        Assert.True(File.Exists(Path.Combine(straight, "model", "config.json")));
        Assert.True(File.Exists(Path.Combine(straight, "model", "tokenizer.json")));

        var resumed = Path.Combine(fixture.Folder, "scratch-resumed");
        using (var run = TrainProcess.Start("--config", job, "--out", resumed, "--threads", "2", "--resume", Path.Combine(straight, "checkpoints", "2")))
        {
            var (code, err) = await run.WaitAsync();
            Assert.True(code == 0, $"exit {code}:\n{err}");
            Assert.Equal([3L, 4L, 5L], TrainProcess.Losses(run.Events).Keys.Order());
        }
        Assert.Equal(File.ReadAllBytes(Path.Combine(straight, "model", "model.safetensors")),
            File.ReadAllBytes(Path.Combine(resumed, "model", "model.safetensors")));
    }
}
