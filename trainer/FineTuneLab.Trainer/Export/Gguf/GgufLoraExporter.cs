namespace FineTuneLab.Trainer.Export.Gguf;

/// <summary>
/// Writes a PEFT LoRA adapter alone as a llama.cpp LoRA GGUF, as convert_lora_to_gguf.py does: general.type
/// "adapter", adapter.type "lora", adapter.lora.alpha, and per adapted weight <c>{gguf name}.lora_a</c> (A, ggml
/// dims [in, r]) and <c>.lora_b</c> (B, dims [r, out]), f32. llama.cpp scales the product by alpha / r (r read from
/// A's shape), so an rsLoRA adapter (alpha / sqrt r) is written with alpha·sqrt(r). For the "llama" architecture the
/// rows of B for q/k are permuted like the base weights they add to. A QLoRA adapter applies to a GGUF of the
/// NF4-rounded base (<see cref="GgufModelExporter"/> without an adapter, from the same folder, with the same
/// <see cref="BaseWeights"/>): it learned its correction against those weights.
/// </summary>
public static class GgufLoraExporter
{
    public sealed record Result(string Path, string Architecture, int Modules, double Alpha);

    public static Result Export(string modelDir, string adapterDir, string outFile)
    {
        var adapter = PeftAdapterConfig.Load(adapterDir);
        using var merge = LoraMerge.Open(modelDir, adapterDir);
        var arch = GgufArchitecture.For(merge.Config, Path.Combine(modelDir, "config.json"));
        double alpha = adapter.UseRsLora ? adapter.Alpha * Math.Sqrt(adapter.Rank) : adapter.Alpha;

        var m = new GgufMetadata();
        m.String("general.architecture", arch.Name);
        m.String("general.type", "adapter");
        m.String("general.name", Path.GetFileName(Path.GetFullPath(adapterDir).TrimEnd(Path.DirectorySeparatorChar)));
        m.UInt32("general.file_type", GgufQuant.F32.FileType());
        m.UInt32("general.quantization_version", 2);
        m.String("adapter.type", "lora");
        m.Float32("adapter.lora.alpha", alpha);

        var tensors = new List<GgufTensor>();
        foreach (var (hf, module) in merge.AdaptedWeights.OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            var name = arch.TensorName(hf) ?? throw new InvalidDataException($"{adapterDir}: the adapter adapts '{module}', which llama.cpp does not load");
            var shape = arch.ShapeOf(hf, merge.Shape(hf));
            int outF = (int)shape[0], inF = (int)shape[1];
            int r = adapter.Rank;
            var permuteHeads = arch.PermuteHeadsOf(hf);
            tensors.Add(new GgufTensor(name + ".lora_a", [inF, r], GgmlType.F32, () =>
            {
                var (a, _, rank) = merge.ReadFactors(module, outF, inF);
                if (rank != r) throw new InvalidDataException($"{adapterDir}: '{module}' has rank {rank}, the adapter config says r = {r} (per-module ranks are not supported)");
                return GgmlEncoder.Encode(GgmlType.F32, a, inF);
            }));
            tensors.Add(new GgufTensor(name + ".lora_b", [r, outF], GgmlType.F32, () =>
            {
                var b = merge.ReadFactors(module, outF, inF).B;
                if (permuteHeads is { } heads) b = GgufArchitecture.PermuteRows(b, [outF, r], heads);
                return GgmlEncoder.Encode(GgmlType.F32, b, r);
            }));
        }
        GgufWriter.Write(outFile, m, tensors);
        return new Result(Path.GetFullPath(outFile), arch.Name, tensors.Count / 2, alpha);
    }
}
