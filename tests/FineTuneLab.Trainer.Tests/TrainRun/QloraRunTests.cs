using System.Text.Json;
using FineTuneLab.Trainer.Formats;

namespace FineTuneLab.Trainer.Tests.TrainRun;

/// <summary><c>method: qlora</c> through the training program: LoRA adapters over an NF4 base, following the LoRA run.</summary>
[Collection(TrainRunCollection.Name)]
public sealed class QloraRunTests(TrainRunFixture fixture)
{
    [Fact]
    public async Task A_qlora_run_trains_lora_adapters_and_follows_the_lora_losses()
    {
        var output = Path.Combine(fixture.Folder, "qlora");
        var job = fixture.WriteJob(Path.Combine(fixture.Folder, "qlora.json"), TrainRunFixture.Steps, j => j["method"] = "qlora");
        using var run = TrainProcess.Start("--config", job, "--out", output, "--threads", "2");
        var (code, err) = await run.WaitAsync();
        Assert.True(code == 0, $"exit {code}:\n{err}");

        var qlora = TrainProcess.Losses(run.Events);
        var lora = TrainProcess.Losses(fixture.ReferenceEvents);
        Assert.Equal(lora.Keys.Order(), qlora.Keys.Order());
        foreach (var (step, loss) in lora)
            Assert.True(Math.Abs(qlora[step] - loss) <= 0.05 * loss, $"step {step}: qlora {qlora[step]}, lora {loss}");
        Assert.NotEqual(lora[TrainRunFixture.Steps], qlora[TrainRunFixture.Steps]); // the base really was quantized

        // The result is a PEFT adapter (not a full model): only LoRA tensors.
        using var adapter = SafeTensorStore.Open(Path.Combine(output, "adapter", "adapter_model.safetensors"));
        Assert.All(adapter.Names, n => Assert.Matches(@"\.lora_[AB]\.weight$", n));
        using var config = JsonDocument.Parse(File.ReadAllText(Path.Combine(output, "adapter", "adapter_config.json")));
        Assert.Equal(4, config.RootElement.GetProperty("r").GetInt32());
    }
}
