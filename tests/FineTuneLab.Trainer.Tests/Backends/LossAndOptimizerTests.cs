using FineTuneLab.Trainer.Backends;
using FineTuneLab.Trainer.Backends.Cpu;
using FineTuneLab.Trainer.Tensors;

namespace FineTuneLab.Trainer.Tests.Backends;

public sealed class LossAndOptimizerTests
{
    private static readonly TorchOpsReference Ref = TorchOpsReference.Instance;

    [Theory]
    [InlineData("cross_entropy_f32", 16)]
    [InlineData("cross_entropy_f32", 70)]
    [InlineData("cross_entropy_bf16", 5)]
    public void Fused_lm_head_cross_entropy_matches_torch_mean_with_ignore_index(string c, int chunk)
    {
        using var backend = new CpuBackend(2);
        using var t = new HostTensors();
        var hidden = t.FromReference(Ref, c, "hidden");
        var weight = t.FromReference(Ref, c, "weight");
        var targets = t.FromReference(Ref, c, "targets");
        var valid = targets.AsInt32().ToArray().Count(x => x != CrossEntropyResult.IgnoreIndex);
        var scratch = t.New(DType.F32, chunk, weight.Dim(0));
        var dHidden = t.New(DType.F32, hidden.Dim(0), hidden.Dim(1));
        var dWeight = t.New(DType.F32, weight.Dim(0), weight.Dim(1));
        var result = backend.LmHeadCrossEntropy(hidden, weight, targets, scratch, 1f / valid, dHidden, dWeight);
        Assert.Equal(valid, result.ValidTokens);
        Approx.Equal(Ref.F32(c, "loss"), [(float)result.Mean], 1e-5, $"{c} loss");
        Approx.Equal(Ref.F32(c, "dhidden"), dHidden.AsFloat(), 5e-5, $"{c} dhidden");
        Approx.Equal(Ref.F32(c, "dweight"), dWeight.AsFloat(), 5e-5, $"{c} dweight");

        // forward only: same loss, no gradient buffers
        var again = backend.LmHeadCrossEntropy(hidden, weight, targets, scratch, 1f, default, default);
        Assert.Equal(result.LossSum, again.LossSum);
    }

    [Fact]
    public void AdamW_matches_torch_over_several_steps_with_weight_decay()
    {
        const string c = "adamw";
        using var backend = new CpuBackend(2);
        using var t = new HostTensors();
        var p = t.FromReference(Ref, c, "param0");
        var n = (int)p.Count;
        var m = t.New(DType.F32, n);
        var v = t.New(DType.F32, n);
        for (var s = 0; s < (int)Ref.Param(c, "steps"); s++)
        {
            var hyper = new AdamWHyperparameters(Ref.Param(c, "lr"), Ref.Param(c, "beta1"), Ref.Param(c, "beta2"), Ref.Param(c, "eps"),
                Ref.Param(c, "weightDecay"), s + 1);
            backend.AdamWStep(p, t.FromReference(Ref, c, $"grad{s}"), m, v, hyper);
            Approx.Equal(Ref.F32(c, $"m{s + 1}"), m.AsFloat(), 1e-6, $"exp_avg after step {s + 1}");
            Approx.Equal(Ref.F32(c, $"v{s + 1}"), v.AsFloat(), 1e-6, $"exp_avg_sq after step {s + 1}");
            Approx.Equal(Ref.F32(c, $"param{s + 1}"), p.AsFloat(), 1e-6, $"param after step {s + 1}");
        }
    }

    [Fact]
    public void Global_norm_clipping_matches_torch()
    {
        const string c = "clip";
        using var backend = new CpuBackend(2);
        using var t = new HostTensors();
        var g = t.FromReference(Ref, c, "grad");
        var norm = GradientClipping.ClipByGlobalNorm(backend, g, (float)Ref.Param(c, "maxNorm"));
        Approx.Equal(Ref.F32(c, "norm"), [norm], 1e-6, "total norm");
        Approx.Equal(Ref.F32(c, "clipped"), g.AsFloat(), 1e-6, "clipped gradients");
    }

    [Fact]
    public void Dropout_keeps_about_one_minus_p_scales_survivors_and_replays_with_the_seed()
    {
        using var backend = new CpuBackend(2);
        using var t = new HostTensors();
        const int n = 200_000;
        var x = t.New(DType.F32, n);
        backend.Fill(x, 1f);
        var y = t.New(DType.F32, n);
        backend.Dropout(x, 0.1f, 42, y);
        var kept = y.AsFloat().ToArray().Count(v => v != 0);
        Assert.InRange(kept / (double)n, 0.895, 0.905);
        Assert.All(y.AsFloat().ToArray().Where(v => v != 0), v => Assert.Equal(1f / 0.9f, v));

        // backward = the same call on dY with the same seed: the same elements survive
        var dy = t.New(DType.F32, n);
        backend.Fill(dy, 2f);
        backend.Dropout(dy, 0.1f, 42, dy);
        for (var i = 0; i < n; i++) Assert.Equal(y.AsFloat()[i] != 0, dy.AsFloat()[i] != 0);

        backend.Dropout(x, 0.1f, 43, dy);
        Assert.NotEqual(y.AsFloat().ToArray(), dy.AsFloat().ToArray());
    }

    [Fact]
    public void Nf4_dequantization_reads_high_nibble_first_and_scales_per_block()
    {
        using var backend = new CpuBackend(1);
        using var t = new HostTensors();
        var packed = t.New(DType.U8, 4);
        packed.AsBytes()[0] = 0x0F; // codes 0 (-1.0) then 15 (1.0)
        packed.AsBytes()[1] = 0x78; // 7 (0.0) then 8
        packed.AsBytes()[2] = 0xF0;
        packed.AsBytes()[3] = 0x1E;
        var absmax = t.F32([2f, 0.5f]);
        var output = t.New(DType.F32, 8);
        backend.DequantizeNf4(packed, absmax, 4, output);
        Assert.Equal(new[] { -2f, 2f, 0f, 0.07958029955625534f * 2f, 0.5f, -0.5f, -0.6961928009986877f * 0.5f, 0.7229568362236023f * 0.5f },
            output.AsFloat().ToArray());
    }
}
