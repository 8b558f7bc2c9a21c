using System.Diagnostics;
using System.Text.Json.Nodes;

namespace FineTuneLab.Trainer.Tests.TrainRun;

/// <summary>A model folder whose config.json lies about its weights is refused before anything is sized from the lie.</summary>
[Collection(TrainRunCollection.Name)]
public sealed class ModelFolderRefusalTests(TrainRunFixture fixture)
{
    [Theory]
    [InlineData("num_hidden_layers", 1_000_000_000, "config.json says 1000000000 layers (num_hidden_layers / n_layer), the weights hold 4 (layers 0–3)")]
    [InlineData("vocab_size", 50_000_000, "model.embed_tokens.weight is [")]
    public async Task A_config_that_disagrees_with_its_weights_is_refused_at_once(string field, long value, string expected)
    {
        var model = Path.Combine(fixture.Folder, $"lying-{field}");
        Directory.CreateDirectory(model);
        foreach (var f in Directory.GetFiles(TrainRunFixture.SampleModel)) File.Copy(f, Path.Combine(model, Path.GetFileName(f)), overwrite: true);
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(model, "config.json")))!.AsObject();
        Assert.Equal(4, config["num_hidden_layers"]!.GetValue<int>()); // the message above names the sample's real count
        config[field] = value;
        File.WriteAllText(Path.Combine(model, "config.json"), config.ToJsonString());
        var job = fixture.WriteJob(Path.Combine(fixture.Folder, $"lying-{field}.json"), 5, j => j["model"]!["path"] = model);

        var clock = Stopwatch.StartNew();
        using var run = TrainProcess.Start("--config", job, "--out", Path.Combine(fixture.Folder, $"lying-{field}-out"), "--threads", "1");
        var (code, err) = await run.WaitAsync(TimeSpan.FromMinutes(1));
        Assert.True(code == 2, $"exit {code}:\n{err}");
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(30), $"took {clock.Elapsed}");
        var error = run.Events.Single(e => TrainProcess.IsType(e, "error"));
        Assert.Contains(expected, error.GetProperty("message").GetString());
        Assert.Equal("ModelConfigException", error.GetProperty("exception_type").GetString());
    }
}
