using FineTuneLab.Trainer.Tensors;

namespace FineTuneLab.Trainer.Models.Modules;

/// <summary>
/// One pre-norm transformer block: x + Attn(Norm1(x)), then + Mlp(Norm2(·)). Llama-family layers have separate
/// q/k/v projections, RoPE and a SwiGLU MLP; GPT-2 layers have the fused c_attn (split into q, k, v parts), no RoPE
/// and a GELU(tanh) MLP. Phi-3 fuses qkv_proj and gate_up_proj the same way (one weight, one adapter, parts);
/// Qwen3 and Gemma 3 norm every q and k head (<see cref="QNorm"/>, <see cref="KNorm"/>) before RoPE; Gemma 3 also
/// norms the attention and MLP outputs before they join the residual (<see cref="PostAttentionNorm"/>,
/// <see cref="PostFeedForwardNorm"/>; its <see cref="Norm2"/> is pre_feedforward_layernorm) and has a GeGLU MLP.
/// Forward keeps what backward needs in <see cref="Acts"/>.
/// <para>
/// The one forward of the layer, for training, evaluation and generation alike: with a <see cref="KvCacheView"/> the
/// chunk's keys and values are written into the cache after the positions already there, and the queries attend to
/// all of them (the attention kernel's Tq &lt; Tk path); without one, the micro-batch attends to itself.
/// </para>
/// </summary>
public sealed class DecoderLayer
{
    public required ModelConfig Config { get; init; }
    public required int Index { get; init; }
    public required Norm Norm1 { get; init; }
    public required Norm Norm2 { get; init; }
    /// <summary>Either one fused projection with three parts (GPT-2) or three separate ones.</summary>
    public Linear? Qkv { get; init; }
    public Linear? Q { get; init; }
    public Linear? K { get; init; }
    public Linear? V { get; init; }
    public required Linear O { get; init; }
    /// <summary>Per-head RMSNorm of q and of k (weights [head_dim]), or null.</summary>
    public Norm? QNorm { get; init; }
    public Norm? KNorm { get; init; }
    /// <summary>Gemma's norm of the attention output (post_attention_layernorm) and of the MLP output, or null.</summary>
    public Norm? PostAttentionNorm { get; init; }
    public Norm? PostFeedForwardNorm { get; init; }
    /// <summary>The gated MLP's gate_proj, Phi-3's fused gate_up_proj (two parts, <see cref="Up"/> null), or GPT-2's c_fc.</summary>
    public required Linear Gate { get; init; }
    public Linear? Up { get; init; }
    public required Linear Down { get; init; }
    public required LayerActivations Acts { get; init; }

    public IEnumerable<Linear> Linears =>
        new[] { Qkv, Q, K, V, O, Gate, Up, Down }.Where(l => l is not null).Select(l => l!);

    private float AttentionScale => (float)(1.0 / Math.Sqrt(Config.QueryPreAttnScalar ?? Config.HeadDim));
    private bool Local => Config.IsLocalLayer(Index);
    private int Window => Local ? Config.SlidingWindow ?? 0 : 0;
    private bool Gated => Config.Mlp != MlpKind.GeluTanh;
    private Tensor RopeCos(StepContext c) => Local && !c.RopeCosLocal.IsEmpty ? c.RopeCosLocal : c.RopeCos;
    private Tensor RopeSin(StepContext c) => Local && !c.RopeSinLocal.IsEmpty ? c.RopeSinLocal : c.RopeSin;

    private static Tensor Hidden(StepContext c, LayerActivations a, Linear l) =>
        l.Lora is null ? default : a.LoraHiddenOf(l).View(0, l.LoraHiddenShape(c.Tokens));
    private Tensor DHidden(StepContext c, Linear l) => l.Lora is null ? default : c.Scratch.DLoraHidden.View(0, l.LoraHiddenShape(c.Tokens));
    // dropout(x) is only formed when dropout is active (a training forward and its backward)
    private static Tensor Drop(StepContext c, Linear l) =>
        !c.DropoutActive || c.Scratch.DropScratch.IsEmpty ? default : c.Matrix(c.Scratch.DropScratch, l.In);

    private static void Fwd(StepContext c, LayerActivations a, Linear l, Tensor x, ReadOnlySpan<Tensor> outs, bool accumulate) =>
        l.Forward(c.Backend, x, outs, accumulate, Hidden(c, a, l), Drop(c, l), c.SeedFor(l), c.DropoutActive);

    private void Bwd(StepContext c, Linear l, Tensor x, ReadOnlySpan<Tensor> dOuts, Tensor dX, bool accumulateDx) =>
        l.Backward(c.Backend, x, dOuts, Hidden(c, Acts, l), dX, accumulateDx, DHidden(c, l), Drop(c, l), c.SeedFor(l));

    /// <summary>
    /// xOut = layer(xIn) for the context's rows (xOut may be xIn). <paramref name="cache"/>, when given, holds the
    /// earlier positions' keys and values and receives this chunk's (one sequence: Batch 1); <paramref name="buffers"/>
    /// replaces the layer's own <see cref="Acts"/> (a decoder's chunk buffers, shared by the layers).
    /// </summary>
    public void Forward(StepContext c, Tensor xIn, Tensor xOut, KvCacheView cache = default, LayerActivations? buffers = null)
    {
        var be = c.Backend;
        int b = c.Batch, t = c.Seq, n = c.Tokens, cfgH = Config.NumHeads, kvH = Config.NumKvHeads, d = Config.HeadDim;
        var a = buffers ?? Acts;
        if (!cache.IsEmpty && b != 1) throw new ArgumentException($"a KV cache holds one sequence; the step has {b}");
        var h1 = c.Rows(a.H1);
        var q = c.Rows(a.Q);
        // the projections write this chunk's keys and values straight into the cache, after the positions it holds
        var k = cache.IsEmpty ? c.Rows(a.K) : cache.Keys.Slice(cache.Offset, n);
        var v = cache.IsEmpty ? c.Rows(a.V) : cache.Values.Slice(cache.Offset, n);
        Norm1.Forward(be, xIn, h1, c.Rows(a.Mean1), c.Rows(a.Rstd1));
        // with q/k norms the projections write the raw heads, which the norms read into q and k (the backward needs both)
        var qProj = QNorm is null ? q : c.Rows(a.QRaw);
        var kProj = KNorm is null ? k : c.Rows(a.KRaw);
        if (Qkv is not null) Fwd(c, a, Qkv, h1, [qProj, kProj, v], false);
        else
        {
            Fwd(c, a, Q!, h1, [qProj], false);
            Fwd(c, a, K!, h1, [kProj], false);
            Fwd(c, a, V!, h1, [v], false);
        }
        if (QNorm is not null)
        {
            QNorm.Forward(be, qProj.Reshape(n * cfgH, d), q.Reshape(n * cfgH, d), default, a.RstdQ.Slice(0, n * cfgH));
            KNorm!.Forward(be, kProj.Reshape(n * kvH, d), k.Reshape(n * kvH, d), default, a.RstdK.Slice(0, n * kvH));
        }
        if (!Config.LearnedPositions)
        {
            var q3 = q.Reshape(n, cfgH, d);
            var k3 = k.Reshape(n, kvH, d);
            be.RopeForward(q3, c.Positions, RopeCos(c), RopeSin(c), q3);
            be.RopeForward(k3, c.Positions, RopeCos(c), RopeSin(c), k3);
        }
        var att = c.Rows(a.Att);
        // keys and values: the micro-batch's own, or everything the cache holds up to and including this chunk
        int tk = cache.IsEmpty ? t : cache.Offset + t;
        var kAll = cache.IsEmpty ? k : cache.Keys.Slice(0, tk);
        var vAll = cache.IsEmpty ? v : cache.Values.Slice(0, tk);
        be.AttentionForward(q.Reshape(b, t, cfgH, d), kAll.Reshape(b, tk, kvH, d), vAll.Reshape(b, tk, kvH, d), c.SegmentIds,
            AttentionScale, Window, att.Reshape(b, t, cfgH, d), a.Lse.View(0, new TensorShape(b, cfgH, t)));

        var xMid = c.Rows(a.XMid);
        if (PostAttentionNorm is null)
        {
            be.Copy(xIn, xMid);
            Fwd(c, a, O, att, [xMid], true);
        }
        else
        {
            var attOut = c.Rows(a.AttnOut);
            Fwd(c, a, O, att, [attOut], false);
            PostAttentionNorm.Forward(be, attOut, xMid, default, c.Rows(a.RstdPostAttn));
            be.Add(xIn, xMid, xMid);
        }

        var h2 = c.Rows(a.H2);
        Norm2.Forward(be, xMid, h2, c.Rows(a.Mean2), c.Rows(a.Rstd2));
        var gate = c.Rows(a.Gate);
        var act = c.Rows(a.Act);
        if (Gated)
        {
            var up = c.Rows(a.Up);
            if (Up is null) Fwd(c, a, Gate, h2, [gate, up], false);
            else
            {
                Fwd(c, a, Gate, h2, [gate], false);
                Fwd(c, a, Up, h2, [up], false);
            }
            if (Config.Mlp == MlpKind.GeGlu) be.GeGluForward(gate, up, act);
            else be.SwiGluForward(gate, up, act);
        }
        else
        {
            Fwd(c, a, Gate, h2, [gate], false);
            be.GeluTanhForward(gate, act);
        }
        if (PostFeedForwardNorm is null)
        {
            be.Copy(xMid, xOut);
            Fwd(c, a, Down, act, [xOut], true);
        }
        else
        {
            // xOut may be xIn (decoding): xIn is no longer read here
            var mlpOut = c.Rows(a.MlpOut);
            Fwd(c, a, Down, act, [mlpOut], false);
            PostFeedForwardNorm.Forward(be, mlpOut, xOut, default, c.Rows(a.RstdPostFf));
            be.Add(xMid, xOut, xOut);
        }
    }

    /// <summary>On entry <paramref name="dResidual"/> holds dLoss/dxOut; on exit dLoss/dxIn.</summary>
    public void Backward(StepContext c, Tensor xIn, Tensor dResidual)
    {
        var be = c.Backend;
        var s = c.Scratch;
        var a = Acts;
        int b = c.Batch, t = c.Seq, n = c.Tokens, cfgH = Config.NumHeads, kvH = Config.NumKvHeads, d = Config.HeadDim;
        var dH = c.Rows(s.DH);

        // MLP
        var dAct = c.Rows(s.DAct);
        var dGate = c.Rows(s.DGate);
        var h2 = c.Rows(a.H2);
        // dH is free until the gate projection's backward writes it: it carries the gradient of a Gemma MLP's output
        var dMlpOut = dResidual;
        if (PostFeedForwardNorm is not null)
        {
            PostFeedForwardNorm.Backward(be, dResidual, c.Rows(a.MlpOut), default, c.Rows(a.RstdPostFf), dH, accumulateDx: false);
            dMlpOut = dH;
        }
        Bwd(c, Down, c.Rows(a.Act), [dMlpOut], dAct, false);
        if (Gated)
        {
            var dUp = c.Rows(s.DUp);
            if (Config.Mlp == MlpKind.GeGlu) be.GeGluBackward(dAct, c.Rows(a.Gate), c.Rows(a.Up), dGate, dUp);
            else be.SwiGluBackward(dAct, c.Rows(a.Gate), c.Rows(a.Up), dGate, dUp);
            if (Up is null) Bwd(c, Gate, h2, [dGate, dUp], dH, false);
            else
            {
                Bwd(c, Gate, h2, [dGate], dH, false);
                Bwd(c, Up, h2, [dUp], dH, true);
            }
        }
        else
        {
            be.GeluTanhBackward(dAct, c.Rows(a.Gate), dGate);
            Bwd(c, Gate, h2, [dGate], dH, false);
        }
        Norm2.Backward(be, dH, c.Rows(a.XMid), c.Rows(a.Mean2), c.Rows(a.Rstd2), dResidual, accumulateDx: true);

        // attention
        var dAtt = c.Rows(s.DAtt);
        var att = c.Rows(a.Att);
        var dAttOut = dResidual;
        if (PostAttentionNorm is not null)
        {
            PostAttentionNorm.Backward(be, dResidual, c.Rows(a.AttnOut), default, c.Rows(a.RstdPostAttn), dH, accumulateDx: false);
            dAttOut = dH;
        }
        Bwd(c, O, att, [dAttOut], dAtt, false);
        var q = c.Rows(a.Q);
        var k = c.Rows(a.K);
        var v = c.Rows(a.V);
        var dQ = c.Rows(s.DQ);
        var dK = c.Rows(s.DK);
        var dV = c.Rows(s.DV);
        be.AttentionBackward(dAtt.Reshape(b, t, cfgH, d), q.Reshape(b, t, cfgH, d), k.Reshape(b, t, kvH, d), v.Reshape(b, t, kvH, d),
            c.SegmentIds, AttentionScale, Window, att.Reshape(b, t, cfgH, d), a.Lse.View(0, new TensorShape(b, cfgH, t)),
            dQ.Reshape(b, t, cfgH, d), dK.Reshape(b, t, kvH, d), dV.Reshape(b, t, kvH, d));
        if (!Config.LearnedPositions)
        {
            var dq3 = dQ.Reshape(n, cfgH, d);
            var dk3 = dK.Reshape(n, kvH, d);
            be.RopeBackward(dq3, c.Positions, RopeCos(c), RopeSin(c), dq3);
            be.RopeBackward(dk3, c.Positions, RopeCos(c), RopeSin(c), dk3);
        }
        if (QNorm is not null)
        {
            var dQRaw = c.Rows(s.DQRaw);
            var dKRaw = c.Rows(s.DKRaw);
            QNorm.Backward(be, dQ.Reshape(n * cfgH, d), c.Rows(a.QRaw).Reshape(n * cfgH, d), default, a.RstdQ.Slice(0, n * cfgH),
                dQRaw.Reshape(n * cfgH, d), accumulateDx: false);
            KNorm!.Backward(be, dK.Reshape(n * kvH, d), c.Rows(a.KRaw).Reshape(n * kvH, d), default, a.RstdK.Slice(0, n * kvH),
                dKRaw.Reshape(n * kvH, d), accumulateDx: false);
            dQ = dQRaw;
            dK = dKRaw;
        }
        var h1 = c.Rows(a.H1);
        if (Qkv is not null) Bwd(c, Qkv, h1, [dQ, dK, dV], dH, false);
        else
        {
            Bwd(c, Q!, h1, [dQ], dH, false);
            Bwd(c, K!, h1, [dK], dH, true);
            Bwd(c, V!, h1, [dV], dH, true);
        }
        Norm1.Backward(be, dH, xIn, c.Rows(a.Mean1), c.Rows(a.Rstd1), dResidual, accumulateDx: true);
    }
}
