using FineTuneLab.Trainer.Backends;
using FineTuneLab.Trainer.Formats;
using FineTuneLab.Trainer.Models;
using FineTuneLab.Trainer.Tensors;

namespace FineTuneLab.Trainer.Training;

/// <summary>
/// One forward and backward of a LoRA model on a given batch, for checking the engine against a reference: the
/// result holds the loss, the logits [B, T, V] and every LoRA gradient under its PEFT key.
/// </summary>
public static class DebugStep
{
    public sealed record Result(double Loss, int ValidTokens, float[] Logits, int Batch, int Seq, int Vocab,
        IReadOnlyDictionary<string, (float[] Values, long[] Shape)> Gradients);

    public static Result Run(IBackend backend, string modelDir, TokenBatch tokens, LoraOptions lora, string? loraInit = null,
        DType? weightDType = null, ulong seed = 0)
    {
        var options = new EngineOptions { Lora = lora, WeightDType = weightDType, MaxBatch = tokens.Batch, MaxSeq = tokens.Seq, Seed = seed };
        using var model = TransformerModel.FromFolder(modelDir, backend, options);
        if (loraInit is null) model.InitLora(seed);
        else
        {
            using var init = SafeTensorStore.Open(loraInit);
            model.LoadLora(init);
        }
        model.ZeroGradients();
        int valid = model.SetBatch(tokens.InputIds, tokens.Labels, tokens.Batch, tokens.Seq);
        var ce = model.Run(backward: true, valid == 0 ? 0f : 1f / valid);

        int n = tokens.Batch * tokens.Seq, vocab = model.Config.VocabSize;
        using var logitsMemory = new Arena("logits", backend.AllocateMemory(Arena.Aligned((long)n * vocab * sizeof(float))), ownsBlock: true);
        var logits = logitsMemory.Allocate(DType.F32, n, vocab);
        model.ComputeLogits(logits);
        var logitValues = HostTransfer.Read(backend, logits);

        var grads = new Dictionary<string, (float[], long[])>(StringComparer.Ordinal);
        foreach (var ad in model.Adapters)
        {
            var (a, b) = model.ReadLora(ad, gradients: true);
            grads[ad.PeftKeyA] = (a, ad.PeftShapeA);
            grads[ad.PeftKeyB] = (b, ad.PeftShapeB);
        }
        return new Result(ce.Mean, ce.ValidTokens, logitValues, tokens.Batch, tokens.Seq, vocab, grads);
    }

    /// <summary>Writes <c>loss</c> [1], <c>logits</c> [B, T, V] and the gradients (PEFT keys) as one safetensors file.</summary>
    public static void Save(Result r, string path)
    {
        var items = new List<SafeTensorWriteItem>
        {
            SafeTensorWriteItem.Float32("loss", [(float)r.Loss], 1),
            SafeTensorWriteItem.Float32("logits", r.Logits, r.Batch, r.Seq, r.Vocab),
        };
        foreach (var (key, (values, shape)) in r.Gradients) items.Add(SafeTensorWriteItem.Float32(key, values, shape));
        SafeTensorsWriter.Write(path, items, new Dictionary<string, string> { ["format"] = "pt", ["producer"] = "ftl-train debug-step" });
    }
}
