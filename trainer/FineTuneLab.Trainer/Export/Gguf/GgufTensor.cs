namespace FineTuneLab.Trainer.Export.Gguf;

/// <summary>
/// One tensor of a GGUF file: its name, its dims in ggml order (ne[0] is the contiguous one, so a PyTorch [rows,
/// cols] matrix is [cols, rows]), its type, and the encoder that produces its bytes when the writer reaches it (so
/// a whole model never sits in memory at once).
/// </summary>
public sealed record GgufTensor(string Name, long[] Dims, GgmlType Type, Func<byte[]> Encode)
{
    public long Elements => Dims.Aggregate(1L, (a, b) => a * b);

    public long ByteCount => Type.RowBytes(Dims[0]) * (Elements / Dims[0]);
}
