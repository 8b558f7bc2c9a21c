using System.Text.Json;
using System.Text.Json.Nodes;
using FineTuneLab.TestSupport;
using FineTuneLab.Trainer.Formats;
using FineTuneLab.Trainer.Tests.Inference;

namespace FineTuneLab.Trainer.Tests.TrainRun;

/// <summary>
/// Every newer family end to end through the real programs: a sample folder generated for it (its config.json with the
/// sample tokenizer's vocabulary, random safetensors weights, the sample tokenizer and chat template) is fine-tuned with
/// <c>ftl-train train</c> and the adapter it writes is used by <c>ftl-train generate</c>. Qwen3 also runs DPO and QLoRA.
/// </summary>
public sealed class FamilySampleRunTests
{
    private static readonly string Cli = Path.Combine(AppContext.BaseDirectory, "ftl-train.dll");
    private static string SampleTokenizer => Path.Combine(RepoPaths.Root, "samples", "models", "tiny");

    /// <summary>A Hugging Face folder of <paramref name="family"/> that the sample tokenizer and data fit.</summary>
    private static string SampleFolder(string root, string family)
    {
        var vocab = JsonDocument.Parse(File.ReadAllText(Path.Combine(SampleTokenizer, "config.json"))).RootElement.GetProperty("vocab_size").GetInt32();
        var dir = RandomModels.CreateModel(root, family, seed: 41, vocab: vocab);
        foreach (var f in Directory.GetFiles(SampleTokenizer, "tokenizer*")) File.Copy(f, Path.Combine(dir, Path.GetFileName(f)));
        return dir;
    }

    private static string WriteJob(string root, string modelDir, string method, Action<JsonObject>? edit = null)
    {
        var data = Path.Combine(root, method == "dpo" ? "pairs.jsonl" : "train.jsonl");
        if (!File.Exists(data))
            File.WriteAllLines(data, File.ReadLines(Path.Combine(RepoPaths.Root, "samples", "data", method == "dpo" ? "preferences.train.jsonl" : "train.jsonl")).Take(24));
        var job = new JsonObject
        {
            ["name"] = $"sample-{method}",
            ["model"] = new JsonObject { ["path"] = modelDir },
            ["method"] = method,
            // the default target list: every linear layer, under the family's own module names (Phi-3's fused ones)
            ["lora"] = new JsonObject { ["r"] = 4, ["alpha"] = 8, ["dropout"] = 0.0 },
            ["data"] = new JsonObject { ["train"] = data },
            ["max_seq_len"] = 96,
            ["micro_batch_size"] = 2,
            ["gradient_accumulation_steps"] = 1,
            ["max_steps"] = 8,
            ["optimizer"] = new JsonObject { ["learning_rate"] = 1e-2, ["weight_decay"] = 0.0 },
            ["scheduler"] = new JsonObject { ["type"] = "constant" },
            ["seed"] = 3,
            ["checkpoint"] = new JsonObject { ["every_steps"] = 100, ["keep_last"] = 1 },
        };
        if (method != "dpo") job["packing"] = true;
        edit?.Invoke(job);
        var path = Path.Combine(root, $"{method}.json");
        File.WriteAllText(path, job.ToJsonString());
        return path;
    }

    private static async Task<IReadOnlyList<JsonElement>> TrainAsync(string job, string outDir)
    {
        using var run = TrainProcess.Start("--config", job, "--out", outDir, "--threads", "2");
        var (code, err) = await run.WaitAsync();
        Assert.True(code == 0, $"ftl-train train exited {code}:\n{err}");
        return run.Events.ToList();
    }

    [Theory]
    [InlineData("qwen3", "self_attn.q_proj")]
    [InlineData("llama32", "mlp.up_proj")]
    [InlineData("gemma3", "mlp.gate_proj")]
    [InlineData("phi3", "self_attn.qkv_proj")]
    public async Task A_generated_sample_folder_fine_tunes_and_generates(string family, string adaptedModule)
    {
        using var tmp = new TempDir();
        var model = SampleFolder(tmp.Path, family);
        var outDir = Path.Combine(tmp.Path, "run");
        var events = await TrainAsync(WriteJob(tmp.Path, model, "lora"), outDir);
        var losses = TrainProcess.Losses(events);
        Assert.Equal(8, losses.Count);
        Assert.All(losses.Values, l => Assert.True(double.IsFinite(l)));
        Assert.True(losses[8] < losses[1], $"{family}: loss went from {losses[1]} to {losses[8]}");

        var adapter = Path.Combine(outDir, "adapter");
        using (var store = SafeTensorStore.Open(Path.Combine(adapter, "adapter_model.safetensors")))
            Assert.Contains($"base_model.model.model.layers.1.{adaptedModule}.lora_B.weight", store.Names);

        var chat = Path.Combine(tmp.Path, "chat.json");
        File.WriteAllText(chat, """[{"role": "user", "content": "Who schedules the jobs?"}]""");
        var r = await ExternalProcess.RunAsync("dotnet", [Cli, "generate", "--model", model, "--adapter", adapter, "--chat", chat,
            "--max-new-tokens", "6", "--temperature", "0", "--threads", "2", "--json"]);
        r.EnsureSuccess("ftl-train generate");
        var generated = JsonDocument.Parse(r.StdOut).RootElement;
        Assert.True(generated.GetProperty("kv_cache").GetBoolean());
        var ids = generated.GetProperty("token_ids").GetArrayLength();
        Assert.True(ids == 6 || generated.GetProperty("finish_reason").GetString() == "eos", r.StdOut);
    }

    [Fact]
    public async Task Qwen3_trains_with_dpo_and_with_qlora()
    {
        using var tmp = new TempDir();
        var model = SampleFolder(tmp.Path, "qwen3");

        var dpo = await TrainAsync(WriteJob(tmp.Path, model, "dpo", j => j["dpo"] = new JsonObject { ["beta"] = 0.1 }), Path.Combine(tmp.Path, "dpo"));
        var steps = dpo.Where(e => TrainProcess.IsType(e, "step")).ToList();
        Assert.Equal(8, steps.Count);
        // the reference is the frozen base: at the first step the policy is the base, so the DPO loss is ln 2
        Assert.Equal(Math.Log(2), steps[0].GetProperty("loss").GetDouble(), 1e-4);
        Assert.True(steps[^1].GetProperty("dpo").GetProperty("reward_margin").GetDouble() > 0);

        var qlora = TrainProcess.Losses(await TrainAsync(WriteJob(tmp.Path, model, "qlora"), Path.Combine(tmp.Path, "qlora")));
        var lora = TrainProcess.Losses(await TrainAsync(WriteJob(tmp.Path, model, "lora"), Path.Combine(tmp.Path, "lora")));
        // NF4 changes the base a little: the same run's losses follow LoRA's closely but not exactly
        foreach (var (step, loss) in lora)
            Assert.True(Math.Abs(qlora[step] - loss) <= 0.05 * loss, $"step {step}: qlora {qlora[step]}, lora {loss}");
        Assert.NotEqual(lora[8], qlora[8]);
    }
}
