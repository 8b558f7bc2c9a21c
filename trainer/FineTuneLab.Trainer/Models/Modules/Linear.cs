using FineTuneLab.Trainer.Backends;
using FineTuneLab.Trainer.Tensors;

namespace FineTuneLab.Trainer.Models.Modules;

/// <summary>
/// y = x Wᵀ (+ b) (+ LoRA), W [out, in]. The output may be split into up to three consecutive row blocks of W
/// ("parts"), each written to its own tensor: GPT-2's fused c_attn becomes q, k and v without a copy, and its single
/// LoRA adapter (B rows split the same way) stays one adapter. A frozen W gets no gradient; only dx flows through it.
/// </summary>
public sealed class Linear
{
    private readonly int[] _partOffsets;

    public Linear(string path, int inFeatures, int[] partSizes, Param weight, Param bias, LoraAdapter? lora)
    {
        Path = path;
        In = inFeatures;
        PartSizes = partSizes;
        _partOffsets = new int[partSizes.Length];
        for (int i = 1; i < partSizes.Length; i++) _partOffsets[i] = _partOffsets[i - 1] + partSizes[i - 1];
        Weight = weight;
        Bias = bias;
        Lora = lora;
    }

    public string Path { get; }
    public int In { get; }
    public int[] PartSizes { get; }
    public int Out => _partOffsets[^1] + PartSizes[^1];
    public Param Weight { get; }
    public Param Bias { get; }
    public LoraAdapter? Lora { get; }
    /// <summary>Mixed into the step's dropout seed so every adapter draws its own mask.</summary>
    public ulong SeedSalt { get; init; }

    private static Tensor Rows(Tensor t, int start, int count) => t.IsEmpty ? t : t.Slice(start, count);

    private Tensor BlockOf(Tensor bt, int p) =>
        bt.View((long)Lora!.Rank * _partOffsets[p], new TensorShape(Lora.Rank, PartSizes[p]));

    /// <summary>The shape of the LoRA hidden activation for <paramref name="tokens"/> rows: [N, r] (see <see cref="Forward"/>).</summary>
    public TensorShape LoraHiddenShape(int tokens) => new(tokens, Lora!.Rank);

    /// <summary>
    /// Writes (or, with <paramref name="accumulate"/>, adds) x Wᵀ + b + LoRA into the parts' outputs.
    /// <paramref name="loraHidden"/> [N, r] keeps dropout(x)·Aᵀ for the backward; <paramref name="dropScratch"/> [N, in]
    /// holds dropout(x) when the adapter has dropout.
    /// </summary>
    public void Forward(IBackend be, Tensor x, ReadOnlySpan<Tensor> outputs, bool accumulate, Tensor loraHidden, Tensor dropScratch, ulong dropSeed,
        bool dropout = true)
    {
        if (Lora is { Enabled: true } && !Weight.IsNf4)
        {
            // H first, then each part's y = x Wᵀ + s · H Bᵀ in one pass over y
            var adapterIn = x;
            if (Lora.Dropout > 0 && dropout)
            {
                be.Dropout(x, Lora.Dropout, dropSeed, dropScratch);
                adapterIn = dropScratch;
            }
            be.Gemm(adapterIn, false, Lora.A.Value, true, loraHidden);
            for (int p = 0; p < PartSizes.Length; p++)
            {
                be.GemmLowRank(x, false, Weight.Value.Slice(_partOffsets[p], PartSizes[p]), true, outputs[p], loraHidden, BlockOf(Lora.BT.Value, p),
                    Lora.Scale, 1f, accumulate ? 1f : 0f);
                if (Bias.Present) be.AddBias(outputs[p], Bias.Value.Slice(_partOffsets[p], PartSizes[p]));
            }
            return;
        }
        for (int p = 0; p < PartSizes.Length; p++)
        {
            if (Weight.IsNf4) be.GemmNf4(x, Weight.Nf4.RowSlice(_partOffsets[p], PartSizes[p]), true, outputs[p], 1f, accumulate ? 1f : 0f);
            else be.Gemm(x, false, Weight.Value.Slice(_partOffsets[p], PartSizes[p]), true, outputs[p], 1f, accumulate ? 1f : 0f);
            if (Bias.Present) be.AddBias(outputs[p], Bias.Value.Slice(_partOffsets[p], PartSizes[p]));
        }
        if (Lora is null || !Lora.Enabled) return;
        var xin = x;
        if (Lora.Dropout > 0 && dropout)
        {
            be.Dropout(x, Lora.Dropout, dropSeed, dropScratch);
            xin = dropScratch;
        }
        be.Gemm(xin, false, Lora.A.Value, true, loraHidden);
        for (int p = 0; p < PartSizes.Length; p++)
            be.Gemm(loraHidden, false, BlockOf(Lora.BT.Value, p), false, outputs[p], Lora.Scale, 1f);
    }

    /// <summary>
    /// Given dY per part, writes (or adds into, with <paramref name="accumulateDx"/>) dX and accumulates the gradients of
    /// whatever is trainable. <paramref name="dHidden"/> [N, r] and <paramref name="dropScratch"/> [N, in] are scratch.
    /// </summary>
    public void Backward(IBackend be, Tensor x, ReadOnlySpan<Tensor> dOutputs, Tensor loraHidden, Tensor dX, bool accumulateDx,
        Tensor dHidden, Tensor dropScratch, ulong dropSeed)
    {
        if (Lora is { Enabled: true, Dropout: 0 } && !Weight.IsNf4)
        {
            // The adapter's gradients first, so dx = dy W + dH A is one pass over dx (fused into the first part's GEMM).
            LoraBackward(be, x, dOutputs, loraHidden, dHidden);
            for (int p = 0; p < PartSizes.Length; p++)
            {
                var dy = dOutputs[p];
                var w = Weight.Value.Slice(_partOffsets[p], PartSizes[p]);
                if (p == 0) be.GemmLowRank(dy, false, w, false, dX, dHidden, Lora.A.Value, 1f, 1f, accumulateDx ? 1f : 0f);
                else be.Gemm(dy, false, w, false, dX, 1f, 1f);
                if (Weight.Trainable) be.Gemm(dy, true, x, false, Weight.Grad.Slice(_partOffsets[p], PartSizes[p]), 1f, 1f);
                if (Bias.Trainable) be.BiasGrad(dy, Rows(Bias.Grad, _partOffsets[p], PartSizes[p]));
            }
            return;
        }
        for (int p = 0; p < PartSizes.Length; p++)
        {
            var dy = dOutputs[p];
            if (Weight.IsNf4) be.GemmNf4(dy, Weight.Nf4.RowSlice(_partOffsets[p], PartSizes[p]), false, dX, 1f, accumulateDx || p > 0 ? 1f : 0f);
            else be.Gemm(dy, false, Weight.Value.Slice(_partOffsets[p], PartSizes[p]), false, dX, 1f, accumulateDx || p > 0 ? 1f : 0f);
            if (Weight.Trainable) be.Gemm(dy, true, x, false, Weight.Grad.Slice(_partOffsets[p], PartSizes[p]), 1f, 1f);
            if (Bias.Trainable) be.BiasGrad(dy, Rows(Bias.Grad, _partOffsets[p], PartSizes[p]));
        }
        if (Lora is null || !Lora.Enabled) return;
        var xin = LoraBackward(be, x, dOutputs, loraHidden, dHidden, dropScratch, dropSeed);
        if (Lora.Dropout > 0)
        {
            // d(dropout(x)) = dH A, then the same mask and 1/(1-p) scaling on the way back to x
            be.Gemm(dHidden, false, Lora.A.Value, false, dropScratch);
            be.Dropout(dropScratch, Lora.Dropout, dropSeed, dropScratch);
            be.Add(dX, dropScratch, dX);
        }
        else
        {
            be.Gemm(dHidden, false, Lora.A.Value, false, dX, 1f, 1f);
        }
    }

    /// <summary>
    /// dH = s · Σ_p dy_p B_p [N, r], dBᵀ += s · Hᵀ dy, dA += dHᵀ dropout(x); returns the adapter's input
    /// (dropout(x) in <paramref name="dropScratch"/> when the adapter has dropout, else x).
    /// </summary>
    private Tensor LoraBackward(IBackend be, Tensor x, ReadOnlySpan<Tensor> dOutputs, Tensor loraHidden, Tensor dHidden,
        Tensor dropScratch = default, ulong dropSeed = 0)
    {
        var lora = Lora!;
        for (int p = 0; p < PartSizes.Length; p++)
        {
            var dy = dOutputs[p];
            be.Gemm(dy, false, BlockOf(lora.BT.Value, p), true, dHidden, lora.Scale, p > 0 ? 1f : 0f);
            be.Gemm(loraHidden, true, dy, false, BlockOf(lora.BT.Grad, p), lora.Scale, 1f);
        }
        var xin = x;
        if (lora.Dropout > 0)
        {
            be.Dropout(x, lora.Dropout, dropSeed, dropScratch);
            xin = dropScratch;
        }
        be.Gemm(dHidden, true, xin, false, lora.A.Grad, 1f, 1f);
        return xin;
    }
}
