using System.Runtime.InteropServices;
using FineTuneLab.Trainer.Formats;
using FineTuneLab.Trainer.Tensors;

namespace FineTuneLab.Trainer.Export;

/// <summary>
/// Writes the base model with a PEFT LoRA adapter folded in (<see cref="LoraMerge"/>) as a Hugging Face folder. Every
/// unchanged tensor is copied byte for byte; merged (or NF4-rounded) matrices keep the base's dtype. The folder
/// (config, weights, tokenizer and generation files) is built beside the target and renamed into place.
/// </summary>
public static class MergedModelExporter
{
    private static readonly string[] CopiedFiles =
    [
        "config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
        "tokenizer.model", "vocab.json", "merges.txt", "added_tokens.json", "chat_template.jinja", "chat_template.json",
    ];

    public static void Export(string modelDir, string adapterDir, string outDir, BaseWeights? baseWeights = null)
    {
        using var merge = LoraMerge.Open(modelDir, adapterDir, baseWeights);
        var items = merge.Names.Select(n => merge.IsUnchanged(n) ? Copy(merge.Store, n) : Encode(n, merge.StoredDType(n), merge.Read(n), merge.Shape(n), modelDir)).ToList();

        var parent = Path.GetDirectoryName(Path.GetFullPath(outDir))!;
        Directory.CreateDirectory(parent);
        var temp = Path.Combine(parent, $".{Path.GetFileName(Path.GetFullPath(outDir))}.{Guid.NewGuid():N}.tmp");
        Directory.CreateDirectory(temp);
        try
        {
            SafeTensorsWriter.Write(Path.Combine(temp, SafeTensorStore.SingleFileName), items, new Dictionary<string, string> { ["format"] = "pt" });
            foreach (var name in CopiedFiles)
            {
                var source = Path.Combine(modelDir, name);
                if (!File.Exists(source)) continue;
                if (name == "config.json") WriteConfigWithoutQuantization(source, Path.Combine(temp, name));
                else File.Copy(source, Path.Combine(temp, name));
            }
            if (Directory.Exists(outDir)) Directory.Delete(outDir, recursive: true);
            Directory.Move(temp, outDir);
        }
        finally
        {
            if (Directory.Exists(temp)) Directory.Delete(temp, recursive: true);
        }
    }

    /// <summary>The merged weights are plain floats: a bitsandbytes base's quantization_config no longer applies.</summary>
    private static void WriteConfigWithoutQuantization(string source, string target)
    {
        var node = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(source));
        if (node is System.Text.Json.Nodes.JsonObject o && o.Remove("quantization_config"))
            File.WriteAllText(target, o.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true }));
        else File.Copy(source, target);
    }

    private static SafeTensorWriteItem Encode(string key, SafeTensorDType dtype, float[] values, long[] shape, string file)
    {
        switch (dtype)
        {
            case SafeTensorDType.F32: return SafeTensorWriteItem.Float32(key, values, shape);
            case SafeTensorDType.BF16:
            case SafeTensorDType.F16:
                var bits = new ushort[values.Length];
                if (dtype == SafeTensorDType.BF16) HalfConvert.FloatToBf16(values, bits);
                else HalfConvert.FloatToF16(values, bits);
                return new SafeTensorWriteItem(key, dtype, shape, MemoryMarshal.AsBytes(bits.AsSpan()).ToArray());
            default: throw new InvalidDataException($"{file}: '{key}' is {dtype}; merging supports F32, BF16 and F16 weights");
        }
    }

    private static SafeTensorWriteItem Copy(SafeTensorStore store, string name)
    {
        var info = store.Get(name);
        return new SafeTensorWriteItem(name, info.DType, info.Shape, store.FileOf(name).Bytes(name).ToArray());
    }
}
