namespace FineTuneLab.Trainer.Models.Modules;

/// <summary>
/// The two low-rank factors of one adapted linear layer, trained in F32: A [r, in] as PEFT stores it, and B kept
/// transposed, one [r, out_p] block per output part: y += H·Bᵀ then reads Bᵀ as a plain [r, out_p] operand and its
/// gradient Hᵀ·dy is written without a transposed store (the combination of operand layouts that measured fastest on
/// the CPU GEMM, see docs/engine.md). PEFT's B [out, r] is converted at the boundary
/// (<see cref="FromPeftB"/>, <see cref="ToPeftB"/>).
/// </summary>
public sealed class LoraAdapter(string modulePath, Param a, Param bTransposed, int[] partSizes, float scale, float dropout)
{
    public string ModulePath { get; } = modulePath;
    public Param A { get; } = a;
    /// <summary>Bᵀ as consecutive [r, out_p] blocks (flat [r · out]).</summary>
    public Param BT { get; } = bTransposed;
    public int[] PartSizes { get; } = partSizes;
    public float Scale { get; } = scale;
    public float Dropout { get; } = dropout;
    /// <summary>False runs the layer as the bare base model (DPO's reference policy: the same weights, no second copy).</summary>
    public bool Enabled { get; set; } = true;
    public int Rank => A.Value.Dim(0);
    public int In => A.Value.Dim(1);
    public int Out => PartSizes.Sum();

    public string PeftKeyA => $"base_model.model.{ModulePath}.lora_A.weight";
    public string PeftKeyB => $"base_model.model.{ModulePath}.lora_B.weight";
    public long[] PeftShapeA => [Rank, In];
    public long[] PeftShapeB => [Out, Rank];

    /// <summary>PEFT's B [out, r] → the internal transposed blocks.</summary>
    public float[] FromPeftB(ReadOnlySpan<float> b) => Convert(b, toPeft: false);

    /// <summary>Internal transposed blocks → PEFT's B [out, r].</summary>
    public float[] ToPeftB(ReadOnlySpan<float> bt) => Convert(bt, toPeft: true);

    private float[] Convert(ReadOnlySpan<float> source, bool toPeft)
    {
        int r = Rank;
        var result = new float[source.Length];
        int offset = 0;
        foreach (var size in PartSizes)
        {
            for (int i = 0; i < size; i++)
                for (int j = 0; j < r; j++)
                {
                    int peft = (offset + i) * r + j, block = r * offset + j * size + i;
                    if (toPeft) result[peft] = source[block];
                    else result[block] = source[peft];
                }
            offset += size;
        }
        return result;
    }
}
