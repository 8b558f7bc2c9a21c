using System.Runtime.InteropServices;
using FineTuneLab.Trainer.Formats;
using FineTuneLab.Trainer.Inference;
using FineTuneLab.Trainer.Models;
using FineTuneLab.Trainer.Tensors;

namespace FineTuneLab.Trainer.Export;

/// <summary>
/// Folds a PEFT LoRA adapter into its base model: W' = W + scale · B·A for every adapted module (scale alpha/r, or
/// alpha/sqrt(r) with rsLoRA), added transposed into GPT-2's Conv1D weights (stored [in, out]; the fused c_attn is one
/// matrix, so its one adapter folds in directly). Every other tensor is copied byte for byte; merged matrices keep
/// the base's dtype. The folder (config, weights, tokenizer and generation files) is built beside the target and
/// renamed into place.
/// </summary>
public static class MergedModelExporter
{
    private static readonly string[] CopiedFiles =
    [
        "config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
        "tokenizer.model", "vocab.json", "merges.txt", "added_tokens.json", "chat_template.jinja", "chat_template.json",
    ];

    public static void Export(string modelDir, string adapterDir, string outDir)
    {
        var config = HfConfig.Load(modelDir);
        var adapter = PeftAdapterConfig.Load(adapterDir);
        var adapterPath = Path.Combine(adapterDir, PeftAdapterConfig.WeightsFileName);
        using var lora = SafeTensorStore.Open(adapterPath);
        using var store = SafeTensorStore.Open(modelDir);
        var modules = InferenceModel.AdaptedModules(lora);
        var merged = new Dictionary<string, SafeTensorWriteItem>(StringComparer.Ordinal);
        foreach (var module in modules)
        {
            var key = BaseKey(store, module, config)
                ?? throw new InvalidDataException($"{store.Location}: the adapter adapts '{module}', but the base model has no '{module}.weight'");
            merged.Add(key, Merge(store, lora, key, module, adapter.Scale, config.Family == ModelFamily.Gpt2));
        }
        var items = store.Names.Select(n => merged.TryGetValue(n, out var m) ? m : Copy(store, n)).ToList();

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
                if (File.Exists(source)) File.Copy(source, Path.Combine(temp, name));
            }
            if (Directory.Exists(outDir)) Directory.Delete(outDir, recursive: true);
            Directory.Move(temp, outDir);
        }
        finally
        {
            if (Directory.Exists(temp)) Directory.Delete(temp, recursive: true);
        }
    }

    private static string? BaseKey(SafeTensorStore store, string module, ModelConfig config)
    {
        var key = module + ".weight";
        if (store.Contains(key)) return key;
        const string gpt2Prefix = "transformer.";
        if (config.Family == ModelFamily.Gpt2 && key.StartsWith(gpt2Prefix, StringComparison.Ordinal) && store.Contains(key[gpt2Prefix.Length..]))
            return key[gpt2Prefix.Length..];
        return null;
    }

    private static SafeTensorWriteItem Merge(SafeTensorStore store, SafeTensorStore lora, string key, string module, float scale, bool conv1d)
    {
        var info = store.Get(key);
        if (info.Shape.Length != 2) throw new InvalidDataException($"{info.File}: '{key}' is {info.ShapeText}, not a matrix");
        int rows = (int)info.Shape[0], cols = (int)info.Shape[1];
        int outF = conv1d ? cols : rows, inF = conv1d ? rows : cols;
        var keyA = $"{InferenceModel.AdapterKeyPrefix}{module}.lora_A.weight";
        var keyB = $"{InferenceModel.AdapterKeyPrefix}{module}.lora_B.weight";
        if (!lora.Contains(keyB)) throw new InvalidDataException($"{lora.Location}: '{keyB}' is missing");
        int r = (int)lora.Get(keyA).Shape[0];
        var a = new float[r * inF];
        var b = new float[outF * r];
        lora.ReadFloat32(keyA, a, r, inF);
        lora.ReadFloat32(keyB, b, outF, r);
        var w = store.ReadFloat32(key);
        // delta[o, i] = scale · Σ_k B[o, k] A[k, i], accumulated in double and added once
        var row = new double[inF];
        for (int o = 0; o < outF; o++)
        {
            Array.Clear(row);
            for (int k = 0; k < r; k++)
            {
                double bk = b[o * r + k];
                if (bk == 0) continue;
                for (int i = 0; i < inF; i++) row[i] += bk * a[k * inF + i];
            }
            for (int i = 0; i < inF; i++)
            {
                int at = conv1d ? i * outF + o : o * inF + i;
                w[at] = (float)(w[at] + scale * row[i]);
            }
        }
        return Encode(key, info.DType, w, info.Shape, info.File);
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
