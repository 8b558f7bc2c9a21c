using FineTuneLab.Trainer.Formats;
using FineTuneLab.Trainer.Inference;

namespace FineTuneLab.Trainer.Export;

/// <summary>
/// Copies a PEFT adapter folder into a normalised one: the config rewritten with every field PEFT expects and the
/// base model named, the tensors as F32 under their PEFT keys with format=pt metadata; checked against the base model
/// (every adapted module exists there with matching shapes) by loading it.
/// </summary>
public static class AdapterExporter
{
    public static void Export(string modelDir, string adapterDir, string outDir)
    {
        var config = PeftAdapterConfig.Load(adapterDir);
        using (var backend = new Backends.Cpu.CpuBackend())
        using (var model = InferenceModel.Load(modelDir, adapterDir, backend, maxLength: 1)) { }
        using var store = SafeTensorStore.Open(Path.Combine(adapterDir, PeftAdapterConfig.WeightsFileName));
        var items = store.Names.Where(n => n.EndsWith(".lora_A.weight", StringComparison.Ordinal) || n.EndsWith(".lora_B.weight", StringComparison.Ordinal))
            .Select(n => SafeTensorWriteItem.Float32(n, store.ReadFloat32(n), store.Get(n).Shape)).ToList();
        var normalised = config with { BaseModelNameOrPath = config.BaseModelNameOrPath ?? Path.GetFullPath(modelDir) };
        var parent = Path.GetDirectoryName(Path.GetFullPath(outDir))!;
        Directory.CreateDirectory(parent);
        var temp = Path.Combine(parent, $".{Path.GetFileName(Path.GetFullPath(outDir))}.{Guid.NewGuid():N}.tmp");
        try
        {
            PeftAdapterWriter.Write(temp, items, normalised);
            // a QLoRA adapter keeps its mark, so merges of the normalised copy still use the NF4 base
            var mark = Path.Combine(adapterDir, LoraMerge.BaseQuantizationFileName);
            if (File.Exists(mark)) File.Copy(mark, Path.Combine(temp, LoraMerge.BaseQuantizationFileName));
            if (Directory.Exists(outDir)) Directory.Delete(outDir, recursive: true);
            Directory.Move(temp, outDir);
        }
        finally
        {
            if (Directory.Exists(temp)) Directory.Delete(temp, recursive: true);
        }
    }
}
