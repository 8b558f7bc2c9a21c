using FineTuneLab.Trainer.Formats;
using FineTuneLab.Trainer.Models;

namespace FineTuneLab.Trainer.Export;

/// <summary>
/// Writes a model's LoRA adapters as a PEFT adapter folder: <c>adapter_model.safetensors</c> (F32, keys
/// <c>base_model.model.&lt;module path&gt;.lora_A.weight</c> [r, in] and <c>.lora_B.weight</c> [out, r], metadata
/// format=pt) and <c>adapter_config.json</c>. Each file is written beside its target and renamed over it.
/// </summary>
public static class PeftAdapterWriter
{
    public static void Write(string adapterDir, TransformerModel model, PeftAdapterConfig config)
    {
        if (model.Adapters.Count == 0) throw new ArgumentException("the model has no LoRA adapters to write");
        var items = new List<SafeTensorWriteItem>();
        foreach (var ad in model.Adapters)
        {
            var (a, b) = model.ReadLora(ad);
            items.Add(SafeTensorWriteItem.Float32(ad.PeftKeyA, a, ad.PeftShapeA));
            items.Add(SafeTensorWriteItem.Float32(ad.PeftKeyB, b, ad.PeftShapeB));
        }
        Write(adapterDir, items, config);
    }

    /// <summary>Writes already PEFT-shaped tensors and the config (normalising an adapter folder).</summary>
    public static void Write(string adapterDir, IEnumerable<SafeTensorWriteItem> tensors, PeftAdapterConfig config)
    {
        Directory.CreateDirectory(adapterDir);
        SafeTensorsWriter.Write(Path.Combine(adapterDir, PeftAdapterConfig.WeightsFileName), tensors,
            new Dictionary<string, string> { ["format"] = "pt" });
        AtomicFile.WriteAllText(Path.Combine(adapterDir, PeftAdapterConfig.FileName), config.ToJson() + "\n");
    }
}
