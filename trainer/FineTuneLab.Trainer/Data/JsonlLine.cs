namespace FineTuneLab.Trainer.Data;

/// <summary>One line of a JSONL file: its 1-based number, the byte offset where it starts, and its bytes (no newline).</summary>
public readonly record struct JsonlLine(long LineNumber, long ByteOffset, ReadOnlyMemory<byte> Bytes);
