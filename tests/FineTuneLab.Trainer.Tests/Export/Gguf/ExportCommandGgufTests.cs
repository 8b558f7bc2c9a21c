using System.Text.Json;
using FineTuneLab.Trainer.Tests.Inference;
using FineTuneLab.TestSupport;

namespace FineTuneLab.Trainer.Tests.Export.Gguf;

/// <summary>ftl-train export --format gguf / gguf-lora as a user runs it, and the errors it names.</summary>
public sealed class ExportCommandGgufTests
{
    private static readonly string Cli = Path.Combine(AppContext.BaseDirectory, "ftl-train.dll");
    private static string TinyModel => Path.Combine(RepoPaths.Root, "samples", "models", "tiny");

    [Fact]
    public async Task Gguf_and_gguf_lora_formats_write_their_files_and_bad_input_is_refused_by_name()
    {
        using var tmp = new TempDir();
        var adapterDir = RandomModels.CreateAdapter(tmp.Path, TinyModel, 71, ["q_proj", "v_proj"]);
        var outDir = Path.Combine(tmp.Path, "gguf");
        var r = await ExternalProcess.RunAsync("dotnet", [Cli, "export", "--model", TinyModel, "--adapter", adapterDir, "--out", outDir, "--format", "gguf", "--quant", "q8_0"]);
        r.EnsureSuccess("ftl-train export --format gguf");
        using (var report = JsonDocument.Parse(r.StdOut))
        {
            Assert.Equal("llama", report.RootElement.GetProperty("architecture").GetString());
            Assert.Equal(Path.Combine(outDir, "model-q8_0.gguf"), report.RootElement.GetProperty("file").GetString());
        }
        var file = GgufFileReader.Read(Path.Combine(outDir, "model-q8_0.gguf"), withData: false);
        Assert.Equal("llama", file.Metadata["general.architecture"]);
        Assert.Equal(7u, file.Metadata["general.file_type"]);
        Assert.Equal((uint)2, file.Metadata["tokenizer.ggml.eos_token_id"]);
        Assert.Contains("<|im_start|>", (string)file.Metadata["tokenizer.chat_template"]);
        Assert.Equal(1024, ((object[])file.Metadata["tokenizer.ggml.tokens"]).Length);
        Assert.Contains("TEMPLATE", File.ReadAllText(Path.Combine(outDir, "Modelfile")));

        var loraDir = Path.Combine(tmp.Path, "lora");
        r = await ExternalProcess.RunAsync("dotnet", [Cli, "export", "--model", TinyModel, "--adapter", adapterDir, "--out", loraDir, "--format", "gguf-lora"]);
        r.EnsureSuccess("ftl-train export --format gguf-lora");
        var lora = GgufFileReader.Read(Path.Combine(loraDir, "adapter.gguf"), withData: false);
        Assert.Equal("adapter", lora.Metadata["general.type"]);
        Assert.Equal("lora", lora.Metadata["adapter.type"]);
        Assert.Equal(new long[] { 128, 4 }, lora.Tensors["blk.0.attn_q.weight.lora_a"].Dims);
        Assert.Equal(new long[] { 4, 128 }, lora.Tensors["blk.0.attn_q.weight.lora_b"].Dims);

        var noAdapter = await ExternalProcess.RunAsync("dotnet", [Cli, "export", "--model", TinyModel, "--out", loraDir, "--format", "merged"]);
        Assert.Equal(2, noAdapter.ExitCode);
        Assert.Contains("--format merged needs --adapter", noAdapter.StdErr);
        var badQuant = await ExternalProcess.RunAsync("dotnet", [Cli, "export", "--model", TinyModel, "--out", outDir, "--format", "gguf", "--quant", "q2_k"]);
        Assert.Equal(2, badQuant.ExitCode);
        Assert.Contains("--quant must be one of f32, f16, bf16, q8_0, q4_k_m", badQuant.StdErr);
    }

    [Fact]
    public void A_tokenizer_the_export_cannot_write_is_refused_with_the_reason()
    {
        using var tmp = new TempDir();
        var dir = RandomModels.CreateModel(tmp.Path, "llama", 81, vocab: 64);
        File.WriteAllText(Path.Combine(dir, "tokenizer.json"), """{"model": {"type": "Unigram", "vocab": [["a", 0.0]]}, "pre_tokenizer": null}""");
        var e = Assert.Throws<InvalidDataException>(() => Trainer.Export.Gguf.GgufModelExporter.Preflight(dir, Trainer.Export.Gguf.GgufQuant.F16));
        Assert.Contains("a Unigram tokenizer", e.Message);
        Assert.Contains("tokenizer.json", e.Message);
    }
}

public sealed class GemmaGgufRefusalTests
{
    [Fact]
    public void A_gemma3_layout_llama_cpp_cannot_represent_is_refused_by_field()
    {
        using var tmp = new TempDir();
        // the random Gemma 3 config has a local/global pattern of 2 and query_pre_attn_scalar 16 ≠ head_dim 12
        var dir = RandomModels.CreateModel(tmp.Path, "gemma3", 91);
        var e = Assert.Throws<InvalidDataException>(() => Trainer.Export.Gguf.GgufModelExporter.Preflight(dir, Trainer.Export.Gguf.GgufQuant.F16));
        Assert.Contains("sliding_window_pattern other than 6", e.Message);
        Assert.Contains("llama.cpp's gemma3 cannot represent that", e.Message);
    }
}
