using FineTuneLab.Trainer.Backends.Cpu;
using FineTuneLab.Trainer.Tensors;

namespace FineTuneLab.Trainer.Tests.Backends;

public sealed class NormAndActivationTests
{
    private static readonly TorchOpsReference Ref = TorchOpsReference.Instance;
    private const double Tol = 2e-5;

    [Fact]
    public void RmsNorm_forward_and_backward_match_torch()
    {
        const string c = "rmsnorm";
        using var backend = new CpuBackend(2);
        using var t = new HostTensors();
        var x = t.FromReference(Ref, c, "x");
        var w = t.FromReference(Ref, c, "weight");
        var dy = t.FromReference(Ref, c, "dy");
        var rows = x.Dim(0);
        var y = t.New(DType.F32, x.Dim(0), x.Dim(1));
        var rstd = t.New(DType.F32, rows);
        backend.RmsNormForward(x, w, (float)Ref.Param(c, "eps"), y, rstd);
        Approx.Equal(Ref.F32(c, "y"), y.AsFloat(), Tol, "rmsnorm y");
        Approx.Equal(Ref.F32(c, "rstd"), rstd.AsFloat(), Tol, "rmsnorm rstd");

        var dx = t.New(DType.F32, x.Dim(0), x.Dim(1));
        var dw = t.New(DType.F32, x.Dim(1));
        backend.RmsNormBackward(dy, x, w, rstd, dx, dw);
        Approx.Equal(Ref.F32(c, "dx"), dx.AsFloat(), Tol, "rmsnorm dx");
        Approx.Equal(Ref.F32(c, "dweight"), dw.AsFloat(), Tol, "rmsnorm dweight");

        // accumulate mode adds into dx (the residual stream's gradient)
        var expectedTwice = Ref.F32(c, "dx").Select(v => 2 * v).ToArray();
        backend.RmsNormBackward(dy, x, w, rstd, dx, default, accumulateDx: true);
        Approx.Equal(expectedTwice, dx.AsFloat(), Tol, "rmsnorm dx accumulated");
    }

    [Fact]
    public void Gemma_rmsnorm_scaling_by_one_plus_weight_matches_torch()
    {
        const string c = "rmsnorm_gemma";
        using var backend = new CpuBackend(2);
        using var t = new HostTensors();
        var x = t.FromReference(Ref, c, "x");
        var w = t.FromReference(Ref, c, "weight");
        var y = t.New(DType.F32, x.Dim(0), x.Dim(1));
        var rstd = t.New(DType.F32, x.Dim(0));
        backend.RmsNormForward(x, w, (float)Ref.Param(c, "eps"), y, rstd, weightOffset: 1f);
        Approx.Equal(Ref.F32(c, "y"), y.AsFloat(), Tol, "gemma rmsnorm y");
        var dx = t.New(DType.F32, x.Dim(0), x.Dim(1));
        var dw = t.New(DType.F32, x.Dim(1));
        backend.RmsNormBackward(t.FromReference(Ref, c, "dy"), x, w, rstd, dx, dw, weightOffset: 1f);
        Approx.Equal(Ref.F32(c, "dx"), dx.AsFloat(), Tol, "gemma rmsnorm dx");
        Approx.Equal(Ref.F32(c, "dweight"), dw.AsFloat(), Tol, "gemma rmsnorm dweight");
    }

    [Fact]
    public void GeGlu_forward_and_backward_match_torch()
    {
        const string c = "geglu";
        using var backend = new CpuBackend(2);
        using var t = new HostTensors();
        var g = t.FromReference(Ref, c, "gate");
        var u = t.FromReference(Ref, c, "up");
        var n = (int)g.Count;
        var y = t.New(DType.F32, n);
        backend.GeGluForward(g, u, y);
        Approx.Equal(Ref.F32(c, "y"), y.AsFloat(), Tol, "geglu y");
        // in place, as the MLP backward may run it: dGate over gate, dUp over up
        backend.GeGluBackward(t.FromReference(Ref, c, "dy"), g, u, g, u);
        Approx.Equal(Ref.F32(c, "dgate"), g.AsFloat(), Tol, "geglu dgate");
        Approx.Equal(Ref.F32(c, "dup"), u.AsFloat(), Tol, "geglu dup");
    }

    [Fact]
    public void LayerNorm_forward_and_backward_match_torch()
    {
        const string c = "layernorm";
        using var backend = new CpuBackend(2);
        using var t = new HostTensors();
        var x = t.FromReference(Ref, c, "x");
        var rows = x.Dim(0);
        var cols = x.Dim(1);
        var w = t.FromReference(Ref, c, "weight");
        var b = t.FromReference(Ref, c, "bias");
        var y = t.New(DType.F32, rows, cols);
        var mean = t.New(DType.F32, rows);
        var rstd = t.New(DType.F32, rows);
        backend.LayerNormForward(x, w, b, (float)Ref.Param(c, "eps"), y, mean, rstd);
        Approx.Equal(Ref.F32(c, "y"), y.AsFloat(), Tol, "layernorm y");
        Approx.Equal(Ref.F32(c, "mean"), mean.AsFloat(), Tol, "layernorm mean");
        Approx.Equal(Ref.F32(c, "rstd"), rstd.AsFloat(), Tol, "layernorm rstd");

        var dx = t.New(DType.F32, rows, cols);
        var dw = t.New(DType.F32, cols);
        var db = t.New(DType.F32, cols);
        backend.LayerNormBackward(t.FromReference(Ref, c, "dy"), x, w, mean, rstd, dx, dw, db);
        Approx.Equal(Ref.F32(c, "dx"), dx.AsFloat(), Tol, "layernorm dx");
        Approx.Equal(Ref.F32(c, "dweight"), dw.AsFloat(), Tol, "layernorm dweight");
        Approx.Equal(Ref.F32(c, "dbias"), db.AsFloat(), Tol, "layernorm dbias");
    }

    [Fact]
    public void SwiGlu_forward_and_backward_match_torch()
    {
        const string c = "swiglu";
        using var backend = new CpuBackend(2);
        using var t = new HostTensors();
        var g = t.FromReference(Ref, c, "gate");
        var u = t.FromReference(Ref, c, "up");
        var n = (int)g.Count;
        var y = t.New(DType.F32, n);
        backend.SwiGluForward(g, u, y);
        Approx.Equal(Ref.F32(c, "y"), y.AsFloat(), Tol, "swiglu y");
        var dg = t.New(DType.F32, n);
        var du = t.New(DType.F32, n);
        backend.SwiGluBackward(t.FromReference(Ref, c, "dy"), g, u, dg, du);
        Approx.Equal(Ref.F32(c, "dgate"), dg.AsFloat(), Tol, "swiglu dgate");
        Approx.Equal(Ref.F32(c, "dup"), du.AsFloat(), Tol, "swiglu dup");
    }

    [Fact]
    public void GeluTanh_forward_and_backward_match_torch()
    {
        const string c = "gelu_tanh";
        using var backend = new CpuBackend(2);
        using var t = new HostTensors();
        var x = t.FromReference(Ref, c, "x");
        var n = (int)x.Count;
        var y = t.New(DType.F32, n);
        backend.GeluTanhForward(x, y);
        Approx.Equal(Ref.F32(c, "y"), y.AsFloat(), Tol, "gelu y");
        var dx = t.New(DType.F32, n);
        backend.GeluTanhBackward(t.FromReference(Ref, c, "dy"), x, dx);
        Approx.Equal(Ref.F32(c, "dx"), dx.AsFloat(), 1e-4, "gelu dx");
    }

    [Fact]
    public void Embedding_forward_and_scatter_add_backward_match_torch()
    {
        const string c = "embedding";
        using var backend = new CpuBackend(2);
        using var t = new HostTensors();
        var table = t.FromReference(Ref, c, "table");
        var ids = t.FromReference(Ref, c, "ids");
        var y = t.New(DType.F32, (int)ids.Count, table.Dim(1));
        backend.EmbeddingForward(ids, table, y);
        Approx.Equal(Ref.F32(c, "y"), y.AsFloat(), 1e-7, "embedding y");

        // a bf16 table gives the bf16-rounded rows
        var tableBf16 = t.New(DType.BF16, table.Dim(0), table.Dim(1));
        backend.Convert(table, tableBf16);
        backend.EmbeddingForward(ids, tableBf16, y);
        var rounded = Ref.F32(c, "y").Select(v => HalfConvert.Bf16ToFloat(HalfConvert.FloatToBf16(v))).ToArray();
        Approx.Equal(rounded, y.AsFloat(), 0, "embedding y from bf16");

        var dTable = t.New(DType.F32, table.Dim(0), table.Dim(1));
        backend.EmbeddingBackward(ids, t.FromReference(Ref, c, "dy"), dTable);
        Approx.Equal(Ref.F32(c, "dtable"), dTable.AsFloat(), 1e-6, "embedding dtable");

        var bad = t.I32([0, 50]);
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => backend.EmbeddingForward(bad, table, t.New(DType.F32, 2, table.Dim(1))));
        Assert.Contains("token id 50 at position 1", e.Message);
    }

    [Fact]
    public void Bf16_and_fp16_conversion_round_like_torch()
    {
        const string c = "convert";
        using var backend = new CpuBackend(2);
        using var t = new HostTensors();
        var x = t.FromReference(Ref, c, "x");
        var n = (int)x.Count;
        var bf = t.New(DType.BF16, n);
        var f16 = t.New(DType.F16, n);
        backend.Convert(x, bf);
        backend.Convert(x, f16);
        Assert.Equal(Ref.U16(c, "bf16"), bf.AsHalfBits().ToArray());
        Assert.Equal(Ref.U16(c, "f16"), f16.AsHalfBits().ToArray());
        var back = t.New(DType.F32, n);
        backend.Convert(bf, back);
        for (var i = 0; i < n; i++)
            Assert.Equal(HalfConvert.Bf16ToFloat(Ref.U16(c, "bf16")[i]), back.AsFloat()[i]);
    }
}
