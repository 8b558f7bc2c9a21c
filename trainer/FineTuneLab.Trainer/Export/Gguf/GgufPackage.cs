namespace FineTuneLab.Trainer.Export.Gguf;

/// <summary>
/// A GGUF export as a folder: <c>model-{quant}.gguf</c> and the Ollama <see cref="OllamaModelfile"/> beside it —
/// what <c>ftl-train export --format gguf</c> and a run's <c>"export": {"gguf": …}</c> both write.
/// </summary>
public static class GgufPackage
{
    public static string FileName(GgufQuant quant) => $"model-{quant.Name()}.gguf";

    public static GgufExportResult Write(string modelDir, string? adapterDir, string outDir, GgufQuant quant, BaseWeights? baseWeights = null)
    {
        Directory.CreateDirectory(outDir);
        var file = FileName(quant);
        var result = GgufModelExporter.Export(modelDir, adapterDir, Path.Combine(outDir, file), quant, baseWeights);
        AtomicFile.WriteAllText(Path.Combine(outDir, OllamaModelfile.FileName), OllamaModelfile.Build(file, result.ChatTemplate, result.StopTokens));
        return result;
    }
}
