using FineTuneLab.Trainer.Tensors;

namespace FineTuneLab.Trainer.Backends;

/// <summary>
/// Every kernel the model modules call. Tensors are device-neutral views: a CPU backend takes host tensors, a GPU
/// backend takes tensors in its own memory (<see cref="AllocateMemory"/>). All layouts are row-major and contiguous;
/// "[T, H, D]" means D is contiguous. Unless a method says otherwise, inputs are F32, outputs are overwritten (not
/// accumulated), and an output may not alias an input. Methods that say "accumulates" add into their output.
/// Results are deterministic: the same inputs and thread count give bit-identical outputs.
/// </summary>
public interface IBackend : IDisposable
{
    /// <summary>"cpu" or "cuda", for logs and events.</summary>
    string Name { get; }

    /// <summary>Where this backend's tensors must live.</summary>
    MemoryLocation Location { get; }

    // ---------------------------------------------------------------- memory

    /// <summary>A zero-filled block of this backend's memory, for arenas.</summary>
    IMemoryBlock AllocateMemory(long bytes);

    /// <summary>Copies a host tensor into a backend tensor of the same dtype and element count.</summary>
    void Upload(Tensor hostSource, Tensor destination);

    /// <summary>Copies a backend tensor into a host tensor of the same dtype and element count.</summary>
    void Download(Tensor source, Tensor hostDestination);

    /// <summary>Waits until all queued work is done (a no-op on the CPU).</summary>
    void Synchronize();

    /// <summary>Sets every element of an F32 tensor to <paramref name="value"/>.</summary>
    void Fill(Tensor x, float value);

    /// <summary>Sets every byte of a tensor of any dtype to zero.</summary>
    void Zero(Tensor x);

    /// <summary>Copies bytes between tensors of the same dtype and element count (shapes may differ).</summary>
    void Copy(Tensor source, Tensor destination);

    /// <summary>Converts between F32, BF16 and F16 (round to nearest even) for tensors of the same element count.</summary>
    void Convert(Tensor source, Tensor destination);

    // ---------------------------------------------------------------- elementwise and reductions

    /// <summary>y = a + b elementwise (y may alias a or b).</summary>
    void Add(Tensor a, Tensor b, Tensor y);

    /// <summary>y += alpha * x (residual accumulation, gradient accumulation).</summary>
    void Axpy(float alpha, Tensor x, Tensor y);

    /// <summary>y = alpha * x (y may alias x).</summary>
    void Scale(Tensor x, float alpha, Tensor y);

    /// <summary>y[r, :] += bias for every row r of y seen as [rows, C]; bias is [C].</summary>
    void AddBias(Tensor y, Tensor bias);

    /// <summary>dBias[c] += sum over rows of dY[r, c] (accumulates); dY seen as [rows, C], dBias is [C].</summary>
    void BiasGrad(Tensor dY, Tensor dBias);

    /// <summary>Sum of squares of all elements of an F32 tensor, accumulated in double in a fixed order (global grad norm).</summary>
    double SumOfSquares(Tensor x);

    // ---------------------------------------------------------------- GEMM

    /// <summary>
    /// C = alpha * op(A) * op(B) + beta * C, with op(X) = X or Xᵀ. A is F32, seen as [M, K] (or [K, M] when
    /// <paramref name="transA"/>; leading dimensions of A are merged into rows). B is 2-D F32, BF16 or F16, [K, N] (or
    /// [N, K] when <paramref name="transB"/>), 16-bit B is widened to F32 exactly while packing. C is F32 [M, N]
    /// (leading dimensions merged). With beta = 0, C is not read (it may hold garbage). A linear layer y = x Wᵀ with
    /// W [out, in] is Gemm(x, false, W, true, y); its input gradient dx = dy W is Gemm(dy, false, W, false, dx); its
    /// weight gradient dW += dyᵀ x is Gemm(dy, true, x, false, dW, beta: 1).
    /// </summary>
    void Gemm(Tensor a, bool transA, Tensor b, bool transB, Tensor c, float alpha = 1f, float beta = 0f);

    /// <summary>
    /// C = alpha · op(A) · op(B) + lowRankScale · L · R + beta · C: a GEMM plus a low-rank product into the same output,
    /// what a LoRA linear layer's forward (y = x Wᵀ + s · H Bᵀ) and input gradient (dx = dy W + dH A) are. A, B, C, alpha,
    /// beta as in <see cref="Gemm"/>; L F32 [M, r] and R F32 [r, N], both plain row-major. This default runs the two
    /// GEMMs one after the other; a backend may fuse them into one pass over C.
    /// </summary>
    void GemmLowRank(Tensor a, bool transA, Tensor b, bool transB, Tensor c, Tensor l, Tensor r, float lowRankScale, float alpha = 1f,
        float beta = 0f)
    {
        Gemm(a, transA, b, transB, c, alpha, beta);
        Gemm(l, false, r, false, c, lowRankScale, 1f);
    }

    // ---------------------------------------------------------------- embedding

    /// <summary>
    /// output[t, :] = table[ids[t], :] (or += when <paramref name="accumulate"/>, e.g. GPT-2's position embedding on top
    /// of the token embedding). ids I32 [T] (any shape, flattened), table [V, C] F32/BF16/F16, output F32 [T, C].
    /// </summary>
    void EmbeddingForward(Tensor ids, Tensor table, Tensor output, bool accumulate = false);

    /// <summary>dTable[ids[t], :] += dOutput[t, :] (accumulates, in token order). dTable F32 [V, C].</summary>
    void EmbeddingBackward(Tensor ids, Tensor dOutput, Tensor dTable);

    // ---------------------------------------------------------------- norms

    /// <summary>
    /// Llama RMSNorm: y = (weight + weightOffset) * (x * rstd), rstd = 1/sqrt(mean(x²) + eps) per row. x, y [rows, C],
    /// weight F32 [C]; saves rstd F32 [rows] for the backward. weightOffset is 0, or 1 for Gemma, whose checkpoints store
    /// weight - 1 (its RMSNorm computes x·rstd·(1 + w) in fp32).
    /// </summary>
    void RmsNormForward(Tensor x, Tensor weight, float eps, Tensor y, Tensor rstd, float weightOffset = 0f);

    /// <summary>
    /// Gradient of <see cref="RmsNormForward"/>: writes dx (adds into it when <paramref name="accumulateDx"/>, e.g. into
    /// the residual stream's gradient) and, when <paramref name="dWeight"/> is not empty, accumulates dWeight [C] (the
    /// offset does not change it: d(w + offset)/dw = 1).
    /// </summary>
    void RmsNormBackward(Tensor dY, Tensor x, Tensor weight, Tensor rstd, Tensor dX, Tensor dWeight, bool accumulateDx = false, float weightOffset = 0f);

    /// <summary>
    /// LayerNorm (biased variance): y = (x - mean) * rstd * weight + bias. x, y [rows, C], weight/bias F32 [C];
    /// saves mean and rstd F32 [rows].
    /// </summary>
    void LayerNormForward(Tensor x, Tensor weight, Tensor bias, float eps, Tensor y, Tensor mean, Tensor rstd);

    /// <summary>Gradient of <see cref="LayerNormForward"/>; dWeight/dBias (accumulated) may be empty tensors for frozen norms.</summary>
    void LayerNormBackward(Tensor dY, Tensor x, Tensor weight, Tensor mean, Tensor rstd, Tensor dX, Tensor dWeight, Tensor dBias,
        bool accumulateDx = false);

    // ---------------------------------------------------------------- rotary position embedding

    /// <summary>
    /// Hugging Face rotary embedding (rotate_half layout): y = x * cos[pos] + rotate_half(x) * sin[pos], where
    /// rotate_half(x) = cat(-x[D/2:], x[:D/2]). x, y [T, H, D] (y may alias x); positions I32 [T] (restart per packed
    /// example); cos, sin F32 [maxPositions, D] from <see cref="RopeTables"/>.
    /// </summary>
    void RopeForward(Tensor x, Tensor positions, Tensor cos, Tensor sin, Tensor y);

    /// <summary>Gradient of <see cref="RopeForward"/> (the inverse rotation); dX may alias dY.</summary>
    void RopeBackward(Tensor dY, Tensor positions, Tensor cos, Tensor sin, Tensor dX);

    // ---------------------------------------------------------------- attention

    /// <summary>
    /// Causal grouped-query attention, tiled with an online softmax (FlashAttention-2 style): the [T, T] score matrix
    /// never exists. q [B, Tq, Hq, D]; k, v [B, Tk, Hkv, D] with Hq a multiple of Hkv (query head h reads kv head
    /// h / (Hq/Hkv)); Tq ≤ Tk and query i sits at absolute position Tk - Tq + i (Tq = Tk in training, Tq = 1 when
    /// decoding with a KV cache). Key j is visible to query i when j ≤ i, and, when <paramref name="segmentIds"/>
    /// (I32 [B, Tk]) is not empty, when both carry the same segment id (packed examples do not see each other), and,
    /// when <paramref name="slidingWindow"/> &gt; 0, when i - j &lt; slidingWindow. scores = scale * q·k.
    /// Writes output [B, Tq, Hq, D] and saves logSumExp F32 [B, Hq, Tq] (natural log of each row's softmax
    /// denominator, scale included) for the backward; a row with no visible key gets output 0.
    /// </summary>
    void AttentionForward(Tensor q, Tensor k, Tensor v, Tensor segmentIds, float scale, int slidingWindow, Tensor output, Tensor logSumExp);

    /// <summary>
    /// Gradient of <see cref="AttentionForward"/>, recomputing probabilities from q, k and logSumExp. Writes (overwrites)
    /// dQ [B, Tq, Hq, D], dK and dV [B, Tk, Hkv, D] (gradients of all query heads of a group summed into their kv head).
    /// </summary>
    void AttentionBackward(Tensor dOutput, Tensor q, Tensor k, Tensor v, Tensor segmentIds, float scale, int slidingWindow,
        Tensor output, Tensor logSumExp, Tensor dQ, Tensor dK, Tensor dV);

    // ---------------------------------------------------------------- activations

    /// <summary>SwiGLU: y = silu(gate) * up, silu(g) = g * sigmoid(g). gate, up, y same shape.</summary>
    void SwiGluForward(Tensor gate, Tensor up, Tensor y);

    /// <summary>Gradient of <see cref="SwiGluForward"/>: writes dGate and dUp (dGate may alias gate, dUp may alias up).</summary>
    void SwiGluBackward(Tensor dY, Tensor gate, Tensor up, Tensor dGate, Tensor dUp);

    /// <summary>GeGLU (Gemma's MLP): y = gelu_tanh(gate) * up, GELU's tanh approximation as <see cref="GeluTanhForward"/>. gate, up, y same shape.</summary>
    void GeGluForward(Tensor gate, Tensor up, Tensor y);

    /// <summary>Gradient of <see cref="GeGluForward"/>: writes dGate and dUp (dGate may alias gate, dUp may alias up).</summary>
    void GeGluBackward(Tensor dY, Tensor gate, Tensor up, Tensor dGate, Tensor dUp);

    /// <summary>GELU, tanh approximation (PyTorch approximate='tanh', HF gelu_new / gelu_pytorch_tanh). y may alias x.</summary>
    void GeluTanhForward(Tensor x, Tensor y);

    /// <summary>Gradient of <see cref="GeluTanhForward"/>; dX may alias dY.</summary>
    void GeluTanhBackward(Tensor dY, Tensor x, Tensor dX);

    /// <summary>
    /// Inverted dropout: y = x * keep / (1 - p), where keep is a pure function of (seed, element index), so the backward
    /// is the same call on dY with the same seed (no mask is stored). p = 0 copies. y may alias x.
    /// </summary>
    void Dropout(Tensor x, float p, ulong seed, Tensor y);

    // ---------------------------------------------------------------- LM head + loss

    /// <summary>
    /// LM head fused with cross-entropy: logits = hidden Wᵀ computed <paramref name="logitsScratch"/>.Dim(0) tokens at a
    /// time, so the full [T, V] logits never exist. hidden F32 [T, C]; weight [V, C] F32/BF16/F16; targets I32 [T] with
    /// -100 = ignored; logitsScratch F32 [chunk, V] (activation memory the caller sized). Returns the summed loss over
    /// non-ignored tokens and their count (PyTorch's mean = LossSum / ValidTokens). When <paramref name="dHidden"/> is
    /// not empty it writes dHidden [T, C] = gradScale * d(loss sum)/d(hidden) (gradScale = 1/ValidTokens gives the mean's
    /// gradient; pass 1/(total over micro-batches) for accumulation); when <paramref name="dWeight"/> (F32 [V, C]) is not
    /// empty it accumulates the head's weight gradient (scaled the same way).
    /// </summary>
    CrossEntropyResult LmHeadCrossEntropy(Tensor hidden, Tensor weight, Tensor targets, Tensor logitsScratch, float gradScale,
        Tensor dHidden, Tensor dWeight);

    // ---------------------------------------------------------------- optimizer

    /// <summary>
    /// One AdamW step over a flat region, in PyTorch's (1.13, single-tensor) order: p *= 1 - lr·wd; m = β1·m + (1-β1)·g;
    /// v = β2·v + (1-β2)·g²; p -= (lr / (1-β1^t)) · m / (sqrt(v) / sqrt(1-β2^t) + eps). param, grad, m, v F32, same count.
    /// </summary>
    void AdamWStep(Tensor param, Tensor grad, Tensor m, Tensor v, in AdamWHyperparameters hyper);

    // ---------------------------------------------------------------- quantized weights

    /// <summary>
    /// bitsandbytes NF4 dequantization: packed U8 [n/2] (two 4-bit codes per byte, the first element in the high nibble),
    /// absmax F32 [n/blockSize] (already double-dequantized), output F32/BF16 [n] = NF4_TABLE[code] * absmax[i / blockSize].
    /// </summary>
    void DequantizeNf4(Tensor packed, Tensor absmax, int blockSize, Tensor output);

    /// <summary>
    /// C = alpha · A · op(W) + beta · C with an NF4 weight W [rows, cols] (op(W) = Wᵀ when <paramref name="transB"/>, so
    /// a linear layer's forward is GemmNf4(x, W, true, y) and its input gradient GemmNf4(dy, W, false, dx)). A F32 [M, K],
    /// C F32 [M, N]; compute in fp32. A backend dequantizes W tile by tile inside its GEMM. This default serves a
    /// backend without a fused kernel: it dequantizes the slice on the host into a temporary fp32 matrix (load-time
    /// speed, not training speed) and runs the dense GEMM.
    /// </summary>
    void GemmNf4(Tensor a, Nf4Matrix b, bool transB, Tensor c, float alpha = 1f, float beta = 0f)
    {
        var values = Nf4Host.Dequantize(this, b);
        using var buffer = AllocateMemory((long)values.Length * sizeof(float));
        var dense = new Tensor(buffer.Pointer, DType.F32, new TensorShape(b.Rows, b.Cols), Location);
        unsafe
        {
            fixed (float* p = values)
                Upload(new Tensor((nint)p, DType.F32, dense.Shape), dense);
        }
        Gemm(a, false, dense, transB, c, alpha, beta);
        Synchronize();
    }
}
