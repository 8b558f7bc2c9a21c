namespace FineTuneLab.Trainer.Data;

/// <summary>The JSONL shapes a training set can have (docs/data.md).</summary>
public enum DatasetFormat
{
    /// <summary>Decided by the first valid line: messages → chat, chosen+rejected → preference, prompt+completion, or the column mapping.</summary>
    Auto,
    /// <summary><c>{"messages": [{"role": "system|user|assistant", "content": "..."}, ...]}</c>, or other fields through a <see cref="ColumnMapping"/>.</summary>
    Chat,
    /// <summary><c>{"prompt": "...", "completion": "..."}</c></summary>
    PromptCompletion,
    /// <summary><c>{"prompt": "...", "chosen": "...", "rejected": "..."}</c> (DPO)</summary>
    Preference,
}
