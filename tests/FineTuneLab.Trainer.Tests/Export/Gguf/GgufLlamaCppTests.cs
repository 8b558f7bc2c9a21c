using FineTuneLab.Trainer.Backends.Cpu;
using FineTuneLab.Trainer.Export;
using FineTuneLab.Trainer.Export.Gguf;
using FineTuneLab.Trainer.Inference;
using FineTuneLab.Trainer.Tensors;
using FineTuneLab.Trainer.Tests.Inference;
using FineTuneLab.TestSupport;
using Xunit.Abstractions;

namespace FineTuneLab.Trainer.Tests.Export.Gguf;

/// <summary>Our GGUF files loaded by llama.cpp itself must give our engine's next-token logits and greedy tokens.</summary>
public sealed class GgufLlamaCppTests(ITestOutputHelper output)
{
    private static string TinyModel => Path.Combine(RepoPaths.Root, "samples", "models", "tiny");

    [Fact]
    public void F16_export_of_the_sample_model_matches_our_engine_in_llama_cpp()
    {
        using var tmp = new TempDir();
        var gguf = Path.Combine(tmp.Path, "model-f16.gguf");
        var result = GgufModelExporter.Export(TinyModel, null, gguf, GgufQuant.F16);
        output.WriteLine($"{result.Architecture} pre {result.PreTokenizer} ({result.PreTokenizerRule}), {result.Tensors} tensors");
        using var llama = new LlamaCpp(gguf);
        using var backend = new CpuBackend(2);
        using var model = InferenceModel.Load(TinyModel, null, backend, 64, DType.F16, forwardTokens: 64);
        var ids = RandomModels.RandomIds(24, model.Config.VocabSize, 5);
        var ours = RandomModels.FullForwardLogits(model, ids);
        var theirs = llama.Logits(ids);
        var a = LogitAgreement.Of(ours, theirs, model.Config.VocabSize);
        output.WriteLine(a.ToString());
        Assert.True(a.MaxKl < 1e-4, a.ToString());
    }
}
