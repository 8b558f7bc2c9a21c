using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using FineTuneLab.Trainer.Formats;

namespace FineTuneLab.Trainer.Quantization;

/// <summary>
/// Writes a copy of a Hugging Face model folder whose transformer-block linear weights are NF4 in bitsandbytes' layout
/// (<see cref="Bnb4BitFormat"/>) — what <c>ftl-train quantize</c> does. Every other tensor is copied byte for byte;
/// config.json gets transformers' <c>quantization_config</c>; the other files are copied. The folder appears atomically.
/// </summary>
public static partial class QuantizeModel
{
    public sealed record Summary(int QuantizedTensors, long QuantizedParameters, long OtherTensors, double BitsPerQuantizedParameter, string OutDir);

    [GeneratedRegex(@"(^|\.)layers\.\d+\.(self_attn|mlp)\.[a-z_]+_proj\.weight$")]
    private static partial Regex BlockLinear();

    /// <summary>Keys of the linear layers inside the transformer blocks (Llama, Mistral, Qwen2 naming).</summary>
    public static bool IsBlockLinear(string key) => BlockLinear().IsMatch(key);

    public static Summary Run(string modelDir, string outDir)
    {
        var config = HfConfig.Load(modelDir);
        if (config.Family == Models.ModelFamily.Gpt2)
            throw new ArgumentException($"{modelDir}: GPT-2's Conv1D layers are stored transposed; quantize-on-load handles them, this command writes Llama-family layouts only");
        if (Directory.Exists(outDir) && Directory.EnumerateFileSystemEntries(outDir).Any())
            throw new IOException($"{outDir} exists and is not empty");
        var full = Path.GetFullPath(outDir);
        var tmp = Path.Combine(Path.GetDirectoryName(full)!, $".{Path.GetFileName(full)}.tmp-{Environment.ProcessId}");
        if (Directory.Exists(tmp)) Directory.Delete(tmp, recursive: true);
        Directory.CreateDirectory(tmp);
        try
        {
            var items = new List<SafeTensorWriteItem>();
            int quantized = 0;
            long qParams = 0, other = 0;
            double bits = 0;
            using (var store = SafeTensorStore.Open(modelDir))
            {
                foreach (var name in store.Names.OrderBy(n => n, StringComparer.Ordinal))
                {
                    var info = store.Get(name);
                    if (IsBlockLinear(name) && info.Shape.Length == 2 && info.DType is SafeTensorDType.F32 or SafeTensorDType.BF16 or SafeTensorDType.F16)
                    {
                        var values = store.ReadFloat32(name);
                        var q = Nf4.Quantize(values, info.Shape);
                        var dtype = info.DType switch { SafeTensorDType.BF16 => "bfloat16", SafeTensorDType.F16 => "float16", _ => "float32" };
                        items.AddRange(Bnb4BitFormat.Items(name, q, dtype));
                        quantized++;
                        qParams += q.Count;
                        bits += q.BitsPerParameter * q.Count;
                    }
                    else
                    {
                        items.Add(new SafeTensorWriteItem(name, info.DType, info.Shape, store.FileOf(name).Bytes(name).ToArray()));
                        other++;
                    }
                }
            }
            if (quantized == 0) throw new ArgumentException($"{modelDir}: no transformer-block linear weight (…layers.N.self_attn/mlp.*_proj.weight) to quantize");
            SafeTensorsWriter.Write(Path.Combine(tmp, SafeTensorStore.SingleFileName), items, new Dictionary<string, string> { ["format"] = "pt" });
            foreach (var file in Directory.EnumerateFiles(modelDir))
            {
                var fname = Path.GetFileName(file);
                if (fname.EndsWith(".safetensors", StringComparison.Ordinal) || fname == SafeTensorStore.IndexFileName) continue;
                if (fname == "config.json") WriteConfig(file, Path.Combine(tmp, fname));
                else File.Copy(file, Path.Combine(tmp, fname));
            }
            if (Directory.Exists(full)) Directory.Delete(full);
            Directory.Move(tmp, full);
            return new Summary(quantized, qParams, other, bits / qParams, full);
        }
        catch
        {
            Directory.Delete(tmp, recursive: true);
            throw;
        }
    }

    private static void WriteConfig(string source, string destination)
    {
        var node = JsonNode.Parse(File.ReadAllText(source))!.AsObject();
        var compute = node["torch_dtype"]?.GetValue<string>() ?? "float32";
        node["quantization_config"] = new JsonObject
        {
            ["quant_method"] = "bitsandbytes",
            ["load_in_4bit"] = true,
            ["load_in_8bit"] = false,
            ["bnb_4bit_quant_type"] = "nf4",
            ["bnb_4bit_use_double_quant"] = true,
            ["bnb_4bit_compute_dtype"] = compute,
            ["bnb_4bit_quant_storage"] = "uint8",
        };
        File.WriteAllText(destination, node.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true }));
    }
}
