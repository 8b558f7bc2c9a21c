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
        var job = fixture.WriteJob(Path.Combine(fixture.Folder, "qlora.json"), TrainRunFixture.Steps, j =>
        {
            j["method"] = "qlora";
            j["export"] = new System.Text.Json.Nodes.JsonObject { ["gguf"] = "f32" };
        });
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

        // "export": {"gguf": "f32"} wrote the model merged into the NF4 base it trained against, with a Modelfile:
        // llama.cpp on that file gives our engine's logits for NF4 base + adapter
        Assert.True(File.Exists(Path.Combine(output, "adapter", global::FineTuneLab.Trainer.Export.LoraMerge.BaseQuantizationFileName)));
        var gguf = Path.Combine(output, "gguf", "model-f32.gguf");
        Assert.True(File.Exists(Path.Combine(output, "gguf", "Modelfile")));
        Assert.Contains(run.Events, e => TrainProcess.IsType(e, "log") && e.GetProperty("message").GetString()!.StartsWith("GGUF export: "));
        using var backend = new global::FineTuneLab.Trainer.Backends.Cpu.CpuBackend(2);
        using var store = SafeTensorStore.Open(Path.Combine(output, "adapter", "adapter_model.safetensors"));
        var options = new global::FineTuneLab.Trainer.Models.EngineOptions
        {
            Lora = new global::FineTuneLab.Trainer.Models.LoraOptions(4, 8, global::FineTuneLab.Trainer.Inference.InferenceModel.AdaptedModules(store), 0f, false), QuantizeBase = true, MaxBatch = 1, MaxSeq = 32,
        };
        using var ours = global::FineTuneLab.Trainer.Models.TransformerModel.FromFolder(TrainRunFixture.SampleModel, backend, options);
        ours.LoadLora(store);
        using var llama = new Export.Gguf.LlamaCpp(gguf);
        var ids = Inference.RandomModels.RandomIds(20, 982, 9);
        var a = Export.Gguf.LogitAgreement.Of(Inference.RandomModels.FullForwardLogits(ours, ids), llama.Logits(ids), ours.Config.VocabSize);
        Assert.True(a.MaxKl <= 1e-9 && a.MaxAbsDiff <= 1e-4, a.ToString());
    }
}
