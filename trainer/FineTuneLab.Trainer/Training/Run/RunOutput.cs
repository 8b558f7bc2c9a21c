namespace FineTuneLab.Trainer.Training.Run;

/// <summary>
/// The output folder of a run (trainer/README.md): events.jsonl, checkpoints/&lt;step&gt;/, and the result —
/// adapter/ (LoRA, PEFT layout) or model/ (full fine-tuning, a Hugging Face model folder).
/// </summary>
public sealed record RunOutput(string Root)
{
    public string EventsFile => Path.Combine(Root, "events.jsonl");
    public string CheckpointsDirectory => Path.Combine(Root, "checkpoints");
    public string AdapterDirectory => Path.Combine(Root, "adapter");
    public string ModelDirectory => Path.Combine(Root, "model");

    public void Create() => Directory.CreateDirectory(Root);
}
