using FineTuneLab.Trainer.Export;
using FineTuneLab.Trainer.Formats;
using FineTuneLab.Trainer.Models;

namespace FineTuneLab.Trainer.Training.Run;

/// <summary>
/// Writes what a run trained in formats other tools read: a LoRA adapter in PEFT layout (adapter_config.json +
/// adapter_model.safetensors with PEFT key names, metadata format=pt), or for full fine-tuning a Hugging Face model
/// folder (config.json, model.safetensors with the checkpoint's own key names, the tokenizer files). Each folder is
/// written beside its place and renamed in.
/// </summary>
public static class ResultWriter
{
    private static readonly string[] TokenizerFiles = ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja"];

    /// <summary>
    /// The run's adapters as a PEFT folder (the one PEFT writer, so training and export agree on keys and config);
    /// a QLoRA run marks it with <see cref="LoraMerge.BaseQuantizationFileName"/> so every merge of it uses the NF4 base it trained against.
    /// </summary>
    public static void WriteAdapter(TransformerModel model, LoraOptions lora, string baseModel, string directory) =>
        WriteFolder(directory, temp =>
        {
            PeftAdapterWriter.Write(temp, model, PeftAdapterConfig.From(lora, model.Config, baseModel));
            if (model.Options.QuantizeBase) LoraMerge.WriteBaseQuantization(temp);
        });

    /// <summary>Every weight of a fully trained model under its checkpoint key (GPT-2's Conv1D transposed back).</summary>
    public static void WriteFullModel(TransformerModel model, string sourceModelFolder, string directory) =>
        WriteFolder(directory, temp =>
        {
            var items = new List<SafeTensorWriteItem>();
            foreach (var src in model.WeightSources)
            {
                var t = src.Param.Value;
                var values = HostTransfer.Read(model.Backend, t);
                long[] shape = t.Rank == 1 ? [t.Dim(0)] : src.StoredTransposed ? [t.Dim(1), t.Dim(0)] : [t.Dim(0), t.Dim(1)];
                if (src.StoredTransposed && t.Rank == 2) values = Transpose(values, t.Dim(0), t.Dim(1));
                items.Add(SafeTensorWriteItem.Float32(src.Keys[0], values, shape));
            }
            SafeTensorsWriter.Write(Path.Combine(temp, SafeTensorStore.SingleFileName), items, new Dictionary<string, string> { ["format"] = "pt" });
            File.Copy(Path.Combine(sourceModelFolder, "config.json"), Path.Combine(temp, "config.json"));
            foreach (var f in TokenizerFiles)
                if (File.Exists(Path.Combine(sourceModelFolder, f))) File.Copy(Path.Combine(sourceModelFolder, f), Path.Combine(temp, f));
        });

    private static float[] Transpose(float[] m, int rows, int cols)
    {
        var t = new float[m.Length];
        for (var r = 0; r < rows; r++)
            for (var c = 0; c < cols; c++)
                t[c * rows + r] = m[r * cols + c];
        return t;
    }

    /// <summary>Fills a temporary sibling folder, then swaps it into place, so a reader never sees half a result.</summary>
    public static void WriteFolder(string directory, Action<string> fill)
    {
        var full = Path.GetFullPath(directory);
        var temp = full + ".tmp-" + Guid.NewGuid().ToString("N");
        Directory.CreateDirectory(temp);
        try
        {
            fill(temp);
            if (Directory.Exists(full))
            {
                var old = full + ".old-" + Guid.NewGuid().ToString("N");
                Directory.Move(full, old);
                Directory.Move(temp, full);
                Directory.Delete(old, recursive: true);
            }
            else Directory.Move(temp, full);
        }
        catch
        {
            if (Directory.Exists(temp)) Directory.Delete(temp, recursive: true);
            throw;
        }
    }
}
