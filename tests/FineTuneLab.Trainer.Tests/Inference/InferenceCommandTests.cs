using System.Text.Json;
using FineTuneLab.TestSupport;
using FineTuneLab.Trainer.Formats;
using FineTuneLab.Trainer.Tokenizers;

namespace FineTuneLab.Trainer.Tests.Inference;

/// <summary>The CLI wiring of generate and export, run as the user runs them (a child process).</summary>
public sealed class InferenceCommandTests
{
    private static readonly string Cli = Path.Combine(AppContext.BaseDirectory, "ftl-train.dll");

    [Fact]
    public async Task Generate_with_an_adapter_gives_the_same_tokens_with_and_without_the_kv_cache()
    {
        using var tmp = new TempDir();
        var tokenizerDir = Path.Combine(RepoPaths.Root, "samples", "models", "tiny");
        var tokenizer = HfTokenizer.Load(tokenizerDir);
        var modelDir = RandomModels.CreateModel(tmp.Path, "qwen2", seed: 31, vocab: tokenizer.VocabSize);
        foreach (var f in Directory.GetFiles(tokenizerDir, "tokenizer*")) File.Copy(f, Path.Combine(modelDir, Path.GetFileName(f)));
        var adapterDir = RandomModels.CreateAdapter(tmp.Path, modelDir, 32, ["all-linear"]);
        var chat = Path.Combine(tmp.Path, "chat.json");
        File.WriteAllText(chat, """[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Can a run resume?"}]""");

        async Task<JsonElement> Run(params string[] extra)
        {
            var r = await ExternalProcess.RunAsync("dotnet", [Cli, "generate", "--model", modelDir, "--adapter", adapterDir, "--chat", chat,
                "--max-new-tokens", "12", "--temperature", "0.8", "--top-k", "50", "--seed", "3", "--threads", "1", "--json", .. extra]);
            r.EnsureSuccess("ftl-train generate");
            return JsonDocument.Parse(r.StdOut).RootElement;
        }
        var cached = await Run();
        var full = await Run("--no-kv-cache");
        Assert.True(cached.GetProperty("kv_cache").GetBoolean());
        Assert.False(full.GetProperty("kv_cache").GetBoolean());
        var ids = cached.GetProperty("token_ids").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        Assert.Equal(ids, full.GetProperty("token_ids").EnumerateArray().Select(e => e.GetInt32()));
        var expectedPrompt = tokenizer.Encode("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nCan a run resume?<|im_end|>\n<|im_start|>assistant\n");
        Assert.Equal(expectedPrompt.Length, cached.GetProperty("prompt_tokens").GetInt32());
        var eos = tokenizer.EosTokenId!.Value;
        Assert.DoesNotContain(eos, ids);
        Assert.True(ids.Length == 12 || cached.GetProperty("finish_reason").GetString() == "eos");
    }

    [Fact]
    public async Task Export_merged_writes_a_model_folder_and_bad_input_is_named()
    {
        using var tmp = new TempDir();
        var modelDir = RandomModels.CreateModel(tmp.Path, "gpt2", seed: 33);
        var adapterDir = RandomModels.CreateAdapter(tmp.Path, modelDir, 34, ["c_attn"]);
        var outDir = Path.Combine(tmp.Path, "merged");
        var r = await ExternalProcess.RunAsync("dotnet", [Cli, "export", "--model", modelDir, "--adapter", adapterDir, "--out", outDir, "--format", "merged"]);
        r.EnsureSuccess("ftl-train export --format merged");
        using (var store = SafeTensorStore.Open(outDir)) Assert.True(store.Contains("transformer.h.0.attn.c_attn.weight"));

        var bad = await ExternalProcess.RunAsync("dotnet", [Cli, "export", "--model", modelDir, "--adapter", tmp.Path, "--out", outDir]);
        Assert.Equal(2, bad.ExitCode);
        Assert.Contains("adapter_config.json", bad.StdErr);
    }
}
