using FineTuneLab.Trainer.Backends;
using FineTuneLab.Trainer.Backends.Cpu;
using FineTuneLab.Trainer.Tensors;

namespace FineTuneLab.Trainer.Tests.Backends;

public sealed class RopeAndAttentionTests
{
    private static readonly TorchOpsReference Ref = TorchOpsReference.Instance;

    private static RopeScaling? Scaling(string c) => c switch
    {
        "rope_llama3" => new RopeScaling.Llama3(Ref.Param(c, "scaling_factor"), Ref.Param(c, "scaling_low_freq_factor"),
            Ref.Param(c, "scaling_high_freq_factor"), (int)Ref.Param(c, "scaling_original_max_position_embeddings")),
        "rope_linear" => new RopeScaling.Linear(Ref.Param(c, "scaling_factor")),
        _ => null,
    };

    [Theory]
    [InlineData("rope_plain")]
    [InlineData("rope_llama3")]
    [InlineData("rope_linear")]
    public void Rope_tables_forward_and_backward_match_transformers(string c)
    {
        using var backend = new CpuBackend(2);
        using var t = new HostTensors();
        var refCos = Ref.Shape(c, "cos");
        var cos = t.New(DType.F32, refCos);
        var sin = t.New(DType.F32, refCos);
        RopeTables.Fill(cos, sin, Ref.Param(c, "theta"), Scaling(c));
        // float32 cos/sin of float32 angles: libm and torch may differ in the last bit
        Approx.Equal(Ref.F32(c, "cos"), cos.AsFloat(), 2e-6, $"{c} cos table");
        Approx.Equal(Ref.F32(c, "sin"), sin.AsFloat(), 2e-6, $"{c} sin table");

        var x = t.FromReference(Ref, c, "x");
        var positions = t.FromReference(Ref, c, "positions");
        var y = t.New(DType.F32, x.Dim(0), x.Dim(1), x.Dim(2));
        backend.RopeForward(x, positions, cos, sin, y);
        Approx.Equal(Ref.F32(c, "y"), y.AsFloat(), 1e-5, $"{c} y");
        var dy = t.FromReference(Ref, c, "dy");
        backend.RopeBackward(dy, positions, cos, sin, dy); // in place
        Approx.Equal(Ref.F32(c, "dx"), dy.AsFloat(), 1e-5, $"{c} dx");
    }

    [Theory]
    [InlineData("attention_gqa_segments")]
    [InlineData("attention_mqa_long")]
    [InlineData("attention_window")]
    [InlineData("attention_decode")]
    [InlineData("attention_odd_dim_packed")]
    [InlineData("attention_unordered_segments")]
    public void Attention_forward_and_backward_match_torch(string c)
    {
        using var backend = new CpuBackend(2);
        using var t = new HostTensors();
        var q = t.FromReference(Ref, c, "q");
        var k = t.FromReference(Ref, c, "k");
        var v = t.FromReference(Ref, c, "v");
        var seg = Ref.Has(c, "segments") ? t.FromReference(Ref, c, "segments") : default;
        var scale = (float)Ref.Param(c, "scale");
        var window = (int)Ref.Param(c, "window");
        var o = t.New(DType.F32, q.Dim(0), q.Dim(1), q.Dim(2), q.Dim(3));
        var lse = t.New(DType.F32, q.Dim(0), q.Dim(2), q.Dim(1));
        backend.AttentionForward(q, k, v, seg, scale, window, o, lse);
        Approx.Equal(Ref.F32(c, "out"), o.AsFloat(), 2e-5, $"{c} output");
        Approx.Equal(Ref.F32(c, "lse"), lse.AsFloat(), 2e-5, $"{c} logsumexp");

        var dq = t.New(DType.F32, q.Dim(0), q.Dim(1), q.Dim(2), q.Dim(3));
        var dk = t.New(DType.F32, k.Dim(0), k.Dim(1), k.Dim(2), k.Dim(3));
        var dv = t.New(DType.F32, k.Dim(0), k.Dim(1), k.Dim(2), k.Dim(3));
        backend.AttentionBackward(t.FromReference(Ref, c, "dout"), q, k, v, seg, scale, window, o, lse, dq, dk, dv);
        Approx.Equal(Ref.F32(c, "dq"), dq.AsFloat(), 5e-5, $"{c} dq");
        Approx.Equal(Ref.F32(c, "dk"), dk.AsFloat(), 5e-5, $"{c} dk");
        Approx.Equal(Ref.F32(c, "dv"), dv.AsFloat(), 5e-5, $"{c} dv");
    }

    [Fact]
    public void Packed_segments_do_not_see_each_other()
    {
        // Two documents packed in one row give the same outputs as each document alone.
        using var backend = new CpuBackend(2);
        using var t = new HostTensors();
        const int len1 = 7, len2 = 9, h = 2, d = 8;
        var rng = new Random(3);
        float[] R(int n) => Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
        var qv = R((len1 + len2) * h * d); var kv = R((len1 + len2) * h * d); var vv = R((len1 + len2) * h * d);
        var seg = t.I32(Enumerable.Repeat(0, len1).Concat(Enumerable.Repeat(1, len2)).ToArray(), 1, len1 + len2);
        var packed = t.New(DType.F32, 1, len1 + len2, h, d);
        backend.AttentionForward(t.F32(qv, 1, len1 + len2, h, d), t.F32(kv, 1, len1 + len2, h, d), t.F32(vv, 1, len1 + len2, h, d), seg,
            0.3f, 0, packed, t.New(DType.F32, 1, h, len1 + len2));
        var alone = t.New(DType.F32, 1, len2, h, d);
        var off = len1 * h * d;
        backend.AttentionForward(t.F32(qv[off..], 1, len2, h, d), t.F32(kv[off..], 1, len2, h, d), t.F32(vv[off..], 1, len2, h, d), default,
            0.3f, 0, alone, t.New(DType.F32, 1, h, len2));
        Approx.Equal(alone.AsFloat(), packed.AsFloat()[off..], 1e-6, "second document packed vs alone");
    }
}
