namespace FineTuneLab.Trainer.Formats;

/// <summary>One tensor's header entry: where its bytes lie (relative to the start of the data section) and in which file.</summary>
public sealed record SafeTensorInfo(string Name, SafeTensorDType DType, long[] Shape, long Begin, long End, string File)
{
    public long ElementCount => Shape.Aggregate(1L, (a, b) => a * b);
    public long ByteLength => End - Begin;
    public string ShapeText => "[" + string.Join(", ", Shape) + "]";
}
