using System.Text.Json.Nodes;
using FineTuneLab.Trainer.Export.Gguf;
using FineTuneLab.Trainer.Tests.Inference;
using FineTuneLab.TestSupport;
using LLama;
using LLama.Native;
using Xunit.Abstractions;

namespace FineTuneLab.Trainer.Tests.Export.Gguf;

/// <summary>
/// Our quantized exports against llama.cpp's own quantizer: llama_model_quantize (what llama-quantize runs) applied to
/// our f32 GGUF of the same merged weights must choose the same type for every tensor and write the same bytes.
/// </summary>
public sealed class LlamaQuantizeTests(ITestOutputHelper output)
{
    private static string TinyModel => Path.Combine(RepoPaths.Root, "samples", "models", "tiny");

    public static TheoryData<string, string> Cases => new()
    {
        { "llama-256", "Q4_K_M" }, { "llama-256", "Q8_0" }, { "tiny", "Q4_K_M" }, { "tiny", "F16" }, { "qwen2-256", "Q4_K_M" },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Our_quantized_file_equals_llama_quantize_of_our_f32_file(string model, string ftype)
    {
        using var tmp = new TempDir();
        var dir = model switch
        {
            "tiny" => TinyModel,
            // rows a multiple of 256 (k-quants without fallbacks) and 4 layers, of which use_more_bits picks 2 and 3
            _ => RandomModels.CreateModel(tmp.Path, model.Split('-')[0], 61, vocab: 1024, configure: c =>
            {
                c["hidden_size"] = 256; c["intermediate_size"] = 256; c["num_hidden_layers"] = 4; c["num_attention_heads"] = 4;
            }),
        };
        if (dir != TinyModel)
            foreach (var f in new[] { "tokenizer.json", "tokenizer_config.json" }) File.Copy(Path.Combine(TinyModel, f), Path.Combine(dir, f), overwrite: true);
        var f32 = GgufModelExporter.Export(dir, null, Path.Combine(tmp.Path, "f32.gguf"), GgufQuant.F32);
        var quant = GgufQuantNames.Parse(ftype);
        var ours = GgufModelExporter.Export(dir, null, Path.Combine(tmp.Path, "ours.gguf"), quant);
        var theirsPath = Path.Combine(tmp.Path, "llama-quantize.gguf");
        LlamaCpp.EnsureLoaded();
        var llamaFtype = ftype switch { "Q4_K_M" => LLamaFtype.MOSTLY_Q4_K_M, "Q8_0" => LLamaFtype.MOSTLY_Q8_0, _ => LLamaFtype.MOSTLY_F16 };
        Assert.True(LLamaQuantizer.Quantize(f32.Path, theirsPath, llamaFtype, 2, allowRequantize: false, quantizeOutputTensor: true), "llama_model_quantize failed");

        var a = GgufFileReader.Read(ours.Path);
        var b = GgufFileReader.Read(theirsPath);
        output.WriteLine($"{model} {ftype}: " + string.Join(", ", ours.TensorTypes.Select(kv => $"{kv.Value} {kv.Key}")));
        Assert.Equal(b.Tensors.Keys.Order(), a.Tensors.Keys.Order());
        foreach (var (name, t) in b.Tensors)
        {
            var mine = a.Tensors[name];
            Assert.True(t.Type == mine.Type, $"{name}: llama-quantize chose ggml type {t.Type}, we wrote {mine.Type}");
            Assert.Equal(t.Dims, mine.Dims);
            long size = (long)new GgufTensor(name, t.Dims, (GgmlType)t.Type, () => []).ByteCount;
            Assert.True(t.Data.AsSpan(0, (int)size).SequenceEqual(mine.Data.AsSpan(0, (int)size)), $"{name} ({(GgmlType)t.Type}): bytes differ from llama-quantize's");
        }
        Assert.Equal(Convert.ToInt64(b.Metadata["general.file_type"]), Convert.ToInt64(a.Metadata["general.file_type"]));
    }
}
