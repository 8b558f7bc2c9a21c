using FineTuneLab.Trainer.Tensors;

namespace FineTuneLab.Trainer.Backends;

/// <summary>
/// A frozen weight matrix [Rows, Cols] in bitsandbytes' NF4 layout with double-quantized absmax, as backend tensors:
/// <see cref="Packed"/> U8 (two codes per byte, first element high nibble), <see cref="AbsmaxCodes"/> U8 (one per
/// block of <see cref="BlockSize"/>), <see cref="NestedAbsmax"/> F32 (one per <see cref="NestedBlockSize"/> absmax),
/// <see cref="QuantMap"/> F32 [256] (the 8-bit dynamic map) and <see cref="Offset"/> F32 [1]. A row slice is the same
/// storage with <see cref="ElementOffset"/> moved, so fused projections keep one quantized matrix.
/// Element e (row-major, counted from the start of the storage) is NF4[code(e)] · (QuantMap[AbsmaxCodes[e / BlockSize]]
/// · NestedAbsmax[(e / BlockSize) / NestedBlockSize] + Offset).
/// </summary>
public readonly record struct Nf4Matrix(Tensor Packed, Tensor AbsmaxCodes, Tensor NestedAbsmax, Tensor QuantMap, Tensor Offset,
    int BlockSize, int NestedBlockSize, int Rows, int Cols, long ElementOffset = 0)
{
    public bool IsPresent => Rows > 0;

    /// <summary>Rows [start, start + count) of the matrix.</summary>
    public Nf4Matrix RowSlice(int start, int count)
    {
        if (start < 0 || count < 0 || start + count > Rows)
            throw new ArgumentOutOfRangeException(nameof(start), $"row slice [{start}, {start + count}) outside an NF4 matrix of {Rows} rows");
        return this with { Rows = count, ElementOffset = ElementOffset + (long)start * Cols };
    }

    /// <summary>Bytes of quantized storage per element of the whole matrix (codes, absmax codes, nested absmax), in bits.</summary>
    public double StorageBitsPerElement => 8.0 * (Packed.Bytes + AbsmaxCodes.Bytes + NestedAbsmax.Bytes) / ((double)Rows * Cols);
}
