namespace FineTuneLab.Trainer.Export.Gguf;

/// <summary>What a GGUF export wrote.</summary>
public sealed record GgufExportResult(string Path, string Architecture, GgufQuant Quant, string PreTokenizer, string PreTokenizerRule,
    int Tensors, IReadOnlyDictionary<string, int> TensorTypes, string? ChatTemplate, IReadOnlyList<string> StopTokens);

/// <summary>
/// Writes a model — the base with its LoRA adapter merged (<see cref="LoraMerge"/>: a QLoRA adapter into the
/// dequantized NF4 base it trained against) — as one GGUF file llama.cpp loads: general.* and {arch}.* metadata,
/// the tokenizer (<see cref="GgufVocabulary"/>), and every tensor under its llama.cpp name and layout
/// (<see cref="GgufArchitecture"/>), encoded as the quantization asks. Norms, biases and other 1-D tensors stay
/// f32 as convert_hf_to_gguf.py keeps them; a q8_0 matrix whose rows are not a multiple of 32 falls back to f16 as
/// the converter does, and q4_k_m chooses per tensor as llama.cpp's quantizer (<see cref="GgufTensorTypes"/>).
/// </summary>
public static class GgufModelExporter
{
    public static GgufExportResult Export(string modelDir, string? adapterDir, string outFile, GgufQuant quant, BaseWeights? baseWeights = null)
    {
        using var merge = LoraMerge.Open(modelDir, adapterDir, baseWeights);
        var config = merge.Config;
        var arch = GgufArchitecture.For(config, Path.Combine(modelDir, "config.json"));

        var m = new GgufMetadata();
        m.String("general.architecture", arch.Name);
        m.String("general.type", "model");
        m.String("general.name", Path.GetFileName(Path.GetFullPath(modelDir).TrimEnd(Path.DirectorySeparatorChar)));
        m.UInt32("general.file_type", quant.FileType());
        m.UInt32("general.quantization_version", 2);
        arch.WriteHyperParameters(m);
        var vocab = GgufVocabulary.Write(m, modelDir, config.VocabSize);

        var sources = new List<(string Gguf, string? Hf, long[] Shape)>();
        if (arch.RopeFactors() is { } factors) sources.Add(("rope_freqs.weight", null, [factors.Length]));
        foreach (var hf in merge.Names)
            if (arch.TensorName(hf) is { } name) sources.Add((name, hf, merge.Shape(hf)));
        var layout = new GgufTensorTypes(quant, config.NumLayers, hasOutput: sources.Any(s => s.Gguf == "output.weight"));
        var tensors = new List<GgufTensor>();
        foreach (var (name, hf, shape) in sources.OrderBy(s => SortKey(s.Gguf)))
        {
            var ggufShape = hf is null ? shape : arch.ShapeOf(hf, shape);
            long[] dims = ggufShape.Length == 1 ? [ggufShape[0]] : [ggufShape[1], ggufShape[0]];
            var type = layout.TypeOf(name, dims);
            tensors.Add(new GgufTensor(name, dims, type, () =>
            {
                var values = hf is null ? arch.RopeFactors()! : arch.Transform(hf, merge.Read(hf), shape).Values;
                return GgmlEncoder.Encode(type, values, dims[0]);
            }));
        }
        GgufWriter.Write(outFile, m, tensors);
        var counts = tensors.GroupBy(t => t.Type.Name()).ToDictionary(g => g.Key, g => g.Count());
        return new GgufExportResult(Path.GetFullPath(outFile), arch.Name, quant, vocab.PreTokenizer, vocab.PreTokenizerRule, tensors.Count, counts,
            vocab.ChatTemplate, vocab.StopTokens);
    }

    /// <summary>
    /// Checks that a model folder can be exported at <paramref name="quant"/> — architecture, tokenizer, every
    /// tensor's name and type — from the safetensors headers alone, without reading or encoding weights.
    /// </summary>
    public static void Preflight(string modelDir, GgufQuant quant)
    {
        using var merge = LoraMerge.Open(modelDir, null);
        var arch = GgufArchitecture.For(merge.Config, Path.Combine(modelDir, "config.json"));
        GgufVocabulary.Write(new GgufMetadata(), modelDir, merge.Config.VocabSize);
        var named = merge.Names.Select(hf => (Hf: hf, Gguf: arch.TensorName(hf))).Where(t => t.Gguf is not null).ToList();
        var layout = new GgufTensorTypes(quant, merge.Config.NumLayers, hasOutput: named.Any(t => t.Gguf == "output.weight"));
        foreach (var (hf, name) in named)
        {
            var shape = arch.ShapeOf(hf, merge.Shape(hf));
            layout.TypeOf(name!, shape.Length == 1 ? [shape[0]] : [shape[1], shape[0]]);
        }
    }

    /// <summary>Embeddings and rope factors first, then blocks in order, then the output norm and head.</summary>
    private static (int, int, string) SortKey(string name)
    {
        if (name.StartsWith("blk.", StringComparison.Ordinal))
        {
            var dot = name.IndexOf('.', 4);
            return (1, int.Parse(name[4..dot]), name);
        }
        return (name.StartsWith("output", StringComparison.Ordinal) ? 2 : 0, 0, name);
    }
}
