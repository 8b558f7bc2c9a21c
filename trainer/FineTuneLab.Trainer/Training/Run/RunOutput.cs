namespace FineTuneLab.Trainer.Training.Run;

/// <summary>
/// The output folder of a run (trainer/README.md): events.jsonl, checkpoints/&lt;step&gt;/, and the result —
/// adapter/ (LoRA, PEFT layout) or model/ (full fine-tuning, a Hugging Face model folder), and gguf/ when the job asks for a GGUF export.
/// </summary>
public sealed record RunOutput(string Root)
{
    public string EventsFile => Path.Combine(Root, "events.jsonl");
    public string CheckpointsDirectory => Path.Combine(Root, "checkpoints");
    public string AdapterDirectory => Path.Combine(Root, "adapter");
    public string ModelDirectory => Path.Combine(Root, "model");
    /// <summary>With <c>"export": {"gguf": QUANT}</c>: model-QUANT.gguf and an Ollama Modelfile.</summary>
    public string GgufDirectory => Path.Combine(Root, "gguf");

    public void Create() => Directory.CreateDirectory(Root);
}
