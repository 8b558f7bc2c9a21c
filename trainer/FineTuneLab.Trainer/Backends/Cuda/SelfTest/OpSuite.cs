using FineTuneLab.Trainer.Models;
using FineTuneLab.Trainer.Quantization;
using FineTuneLab.Trainer.Tensors;

namespace FineTuneLab.Trainer.Backends.Cuda.SelfTest;

/// <summary>
/// Every IBackend op on random inputs, CUDA against the CPU backend, with per-dtype tolerances; also the memory ops
/// (upload, download, synchronize) and the run-to-run bit reproducibility of the reductions that feed weight gradients.
/// A test runs this suite on two CPU backends through a recording proxy and fails when an IBackend method is not
/// called, so a new op cannot be left out.
/// </summary>
public static class OpSuite
{
    public static IReadOnlyList<SelfTestRow> Run(IBackend cpu, IBackend cuda, bool tf32)
    {
        using var c = new OpComparison(cpu, cuda);
        var gemmTol = tf32 ? SelfTestTolerance.Tf32Gemm : SelfTestTolerance.F32;
        void Try(string op, Action body)
        {
            try { body(); }
            catch (Exception e) when (e is not OutOfMemoryException) { c.Failed(op, e); }
        }
        void Both(Action<IBackend, bool> body) { body(cpu, false); body(cuda, true); }
        static Tensor Side(OpComparison.Pair p, bool cand) => cand ? p.Cand : p.Ref;

        Try("Upload/Download", () =>
        {
            var values = c.RandomValues(777, 3f);
            var host = new float[values.Length];
            var y = c.Empty(DType.F32, values.Length);
            unsafe
            {
                fixed (float* src = values)
                fixed (float* dst = host)
                {
                    var hostIn = new Tensor((nint)src, DType.F32, new TensorShape(values.Length));
                    var hostOut = new Tensor((nint)dst, DType.F32, new TensorShape(values.Length));
                    cuda.Upload(hostIn, y.Cand);
                    cuda.Synchronize();
                    cuda.Download(y.Cand, hostOut);
                    cpu.Upload(hostIn, y.Ref);
                    cpu.Synchronize();
                }
            }
            c.Add(SelfTestCompare.Row("Upload/Download round trip", "F32", values, host, 0));
            c.Compare("Upload", y, 0);
        });
        Try("Fill", () => { var y = c.Empty(DType.F32, 1000, 37); Both((b, s) => b.Fill(Side(y, s), 0.375f)); c.Compare("Fill", y, 0); });
        Try("Zero", () => { var y = c.Random(DType.BF16, 1f, 333); Both((b, s) => b.Zero(Side(y, s))); c.Compare("Zero", y, 0); });
        Try("Copy", () =>
        {
            var x = c.Random(DType.F32, 1f, 4097); var y = c.Empty(DType.F32, 4097);
            Both((b, s) => b.Copy(Side(x, s), Side(y, s))); c.Compare("Copy", y, 0);
        });
        foreach (var (from, to) in new[] { (DType.F32, DType.BF16), (DType.BF16, DType.F32), (DType.F32, DType.F16), (DType.F16, DType.F32), (DType.BF16, DType.F16) })
        {
            Try($"Convert {from.Name()}->{to.Name()}", () =>
            {
                var x = c.Random(from, 3f, 5000); var y = c.Empty(to, 5000);
                Both((b, s) => b.Convert(Side(x, s), Side(y, s)));
                c.Compare($"Convert {from.Name()}->{to.Name()}", y, 0);
            });
        }
        Try("Add", () =>
        {
            var a = c.Random(DType.F32, 1f, 300, 70); var bb = c.Random(DType.F32, 1f, 300, 70); var y = c.Empty(DType.F32, 300, 70);
            Both((b, s) => b.Add(Side(a, s), Side(bb, s), Side(y, s))); c.Compare("Add", y, SelfTestTolerance.F32);
        });
        Try("Axpy", () =>
        {
            var x = c.Random(DType.F32, 1f, 9999); var y = c.Random(DType.F32, 1f, 9999);
            Both((b, s) => b.Axpy(-0.7f, Side(x, s), Side(y, s))); c.Compare("Axpy", y, SelfTestTolerance.F32);
        });
        Try("Scale", () =>
        {
            var x = c.Random(DType.F32, 1f, 9999); var y = c.Empty(DType.F32, 9999);
            Both((b, s) => b.Scale(Side(x, s), 1.5f, Side(y, s))); c.Compare("Scale", y, SelfTestTolerance.F32);
        });
        Try("AddBias", () =>
        {
            var y = c.Random(DType.F32, 1f, 123, 96); var bias = c.Random(DType.F32, 1f, 96);
            Both((b, s) => b.AddBias(Side(y, s), Side(bias, s))); c.Compare("AddBias", y, SelfTestTolerance.F32);
        });
        Try("BiasGrad", () =>
        {
            var dy = c.Random(DType.F32, 1f, 513, 96); var db = c.Random(DType.F32, 1f, 96);
            Both((b, s) => b.BiasGrad(Side(dy, s), Side(db, s))); c.Compare("BiasGrad", db, SelfTestTolerance.F32);
        });
        Try("SumOfSquares", () =>
        {
            var x = c.Random(DType.F32, 1f, 1_000_003);
            c.CompareScalars("SumOfSquares", cpu.SumOfSquares(x.Ref), cuda.SumOfSquares(x.Cand), SelfTestTolerance.F32);
        });

        foreach (var (ta, tb) in new[] { (false, false), (false, true), (true, false), (true, true) })
        {
            var name = $"Gemm {(ta ? "T" : "N")}{(tb ? "T" : "N")}";
            Try(name, () =>
            {
                const int m = 129, n = 257, k = 190;
                var a = ta ? c.Random(DType.F32, 1f, k, m) : c.Random(DType.F32, 1f, m, k);
                var bm = tb ? c.Random(DType.F32, 1f, n, k) : c.Random(DType.F32, 1f, k, n);
                var y = c.Random(DType.F32, 1f, m, n);
                Both((b, s) => b.Gemm(Side(a, s), ta, Side(bm, s), tb, Side(y, s), 0.5f, 1f));
                c.Compare(name + " beta=1", y, gemmTol);
            });
        }
        foreach (var bt in new[] { DType.BF16, DType.F16 })
        {
            Try($"Gemm B {bt.Name()}", () =>
            {
                var x = c.Random(DType.F32, 1f, 2, 64, 96); var w = c.Random(bt, 0.2f, 160, 96); var y = c.Empty(DType.F32, 2, 64, 160);
                Both((b, s) => b.Gemm(Side(x, s), false, Side(w, s), true, Side(y, s)));
                c.Compare($"Gemm x·Wᵀ (W {bt.Name()})", y, gemmTol);
            });
        }

        // A LoRA linear layer in one call: forward y = x Wᵀ + s · H Bᵀ, and input gradient dx = dy W + dH A.
        foreach (var (tb, wt) in new[] { (true, DType.BF16), (false, DType.F32) })
        {
            var name = $"GemmLowRank {(tb ? "x·Wᵀ" : "dy·W")} (W {wt.Name()})";
            Try(name, () =>
            {
                const int m = 70, n = 130, k = 96, r = 8;
                var x = c.Random(DType.F32, 1f, m, k);
                var w = tb ? c.Random(wt, 0.2f, n, k) : c.Random(wt, 0.2f, k, n);
                var l = c.Random(DType.F32, 1f, m, r); var rr = c.Random(DType.F32, 0.5f, r, n);
                var y = c.Random(DType.F32, 1f, m, n);
                Both((b, s) => b.GemmLowRank(Side(x, s), false, Side(w, s), tb, Side(y, s), Side(l, s), Side(rr, s), 2f, 0.5f, 1f));
                c.Compare(name + " beta=1", y, gemmTol);
            });
        }

        Try("EmbeddingForward", () =>
        {
            int[] ids = [5, 0, 99, 5, 42, 7, 63, 5];
            var idt = c.Ints(ids, ids.Length);
            foreach (var dt in new[] { DType.F32, DType.BF16 })
            {
                var table = c.Random(dt, 1f, 100, 48); var y = c.Random(DType.F32, 1f, ids.Length, 48);
                Both((b, s) => b.EmbeddingForward(Side(idt, s), Side(table, s), Side(y, s), accumulate: dt == DType.BF16));
                c.Compare($"EmbeddingForward table {dt.Name()}{(dt == DType.BF16 ? " accumulate" : "")}", y, SelfTestTolerance.F32);
            }
            var dOut = c.Random(DType.F32, 1f, ids.Length, 48); var dTable = c.Random(DType.F32, 1f, 100, 48);
            Both((b, s) => b.EmbeddingBackward(Side(idt, s), Side(dOut, s), Side(dTable, s)));
            c.Compare("EmbeddingBackward", dTable, SelfTestTolerance.F32);
        });

        Try("RmsNorm", () =>
        {
            const int rows = 77, cols = 320;
            var x = c.Random(DType.F32, 2f, rows, cols); var w = c.Random(DType.F32, 1f, cols);
            var y = c.Empty(DType.F32, rows, cols); var rstd = c.Empty(DType.F32, rows);
            Both((b, s) => b.RmsNormForward(Side(x, s), Side(w, s), 1e-5f, Side(y, s), Side(rstd, s)));
            c.Compare("RmsNormForward y", y, SelfTestTolerance.F32);
            c.Compare("RmsNormForward rstd", rstd, SelfTestTolerance.F32);
            var dy = c.Random(DType.F32, 1f, rows, cols); var dx = c.Random(DType.F32, 1f, rows, cols); var dw = c.Random(DType.F32, 1f, cols);
            Both((b, s) => b.RmsNormBackward(Side(dy, s), Side(x, s), Side(w, s), Side(rstd, s), Side(dx, s), Side(dw, s), accumulateDx: true));
            c.Compare("RmsNormBackward dX (accumulate)", dx, SelfTestTolerance.F32);
            c.Compare("RmsNormBackward dWeight", dw, SelfTestTolerance.F32);
            // Gemma's x·rstd·(1 + w), per q/k head: rows of head_dim 16
            var xh = c.Random(DType.F32, 2f, rows * 20, 16); var wh = c.Random(DType.F32, 0.3f, 16);
            var yh = c.Empty(DType.F32, rows * 20, 16); var rstdh = c.Empty(DType.F32, rows * 20);
            Both((b, s) => b.RmsNormForward(Side(xh, s), Side(wh, s), 1e-6f, Side(yh, s), Side(rstdh, s), weightOffset: 1f));
            c.Compare("RmsNormForward y (1 + w, per head)", yh, SelfTestTolerance.F32);
            var dyh = c.Random(DType.F32, 1f, rows * 20, 16); var dxh = c.Empty(DType.F32, rows * 20, 16); var dwh = c.Random(DType.F32, 1f, 16);
            Both((b, s) => b.RmsNormBackward(Side(dyh, s), Side(xh, s), Side(wh, s), Side(rstdh, s), Side(dxh, s), Side(dwh, s), weightOffset: 1f));
            c.Compare("RmsNormBackward dX (1 + w)", dxh, SelfTestTolerance.F32);
            c.Compare("RmsNormBackward dWeight (1 + w)", dwh, SelfTestTolerance.F32);
        });
        Try("LayerNorm", () =>
        {
            const int rows = 65, cols = 256;
            var x = c.Random(DType.F32, 2f, rows, cols); var w = c.Random(DType.F32, 1f, cols); var bias = c.Random(DType.F32, 1f, cols);
            var y = c.Empty(DType.F32, rows, cols); var mean = c.Empty(DType.F32, rows); var rstd = c.Empty(DType.F32, rows);
            Both((b, s) => b.LayerNormForward(Side(x, s), Side(w, s), Side(bias, s), 1e-5f, Side(y, s), Side(mean, s), Side(rstd, s)));
            c.Compare("LayerNormForward y", y, SelfTestTolerance.F32);
            var dy = c.Random(DType.F32, 1f, rows, cols); var dx = c.Empty(DType.F32, rows, cols);
            var dw = c.Random(DType.F32, 1f, cols); var db = c.Random(DType.F32, 1f, cols);
            Both((b, s) => b.LayerNormBackward(Side(dy, s), Side(x, s), Side(w, s), Side(mean, s), Side(rstd, s), Side(dx, s), Side(dw, s), Side(db, s)));
            c.Compare("LayerNormBackward dX", dx, SelfTestTolerance.F32);
            c.Compare("LayerNormBackward dWeight", dw, SelfTestTolerance.F32);
            c.Compare("LayerNormBackward dBias", db, SelfTestTolerance.F32);
        });
        Try("Rope", () =>
        {
            const int t = 40, h = 3, d = 64, maxPos = 64;
            var x = c.Random(DType.F32, 1f, t, h, d); var y = c.Empty(DType.F32, t, h, d);
            var cos = c.Random(DType.F32, 1f, maxPos, d); var sin = c.Random(DType.F32, 1f, maxPos, d);
            var pos = c.Ints([.. Enumerable.Range(0, t).Select(i => (i * 7) % maxPos)], t);
            Both((b, s) => b.RopeForward(Side(x, s), Side(pos, s), Side(cos, s), Side(sin, s), Side(y, s)));
            c.Compare("RopeForward", y, SelfTestTolerance.F32);
            Both((b, s) => b.RopeBackward(Side(y, s), Side(pos, s), Side(cos, s), Side(sin, s), Side(y, s)));
            c.Compare("RopeBackward (in place)", y, SelfTestTolerance.F32);
        });
        Try("Attention", () =>
        {
            const int bsz = 2, t = 70, hq = 4, hkv = 2, d = 64;
            var q = c.Random(DType.F32, 1f, bsz, t, hq, d); var k = c.Random(DType.F32, 1f, bsz, t, hkv, d); var v = c.Random(DType.F32, 1f, bsz, t, hkv, d);
            var seg = c.Ints([.. Enumerable.Range(0, bsz * t).Select(i => (i % t) < 30 ? 0 : 1)], bsz, t);
            var o = c.Empty(DType.F32, bsz, t, hq, d); var lse = c.Empty(DType.F32, bsz, hq, t);
            var scale = 1f / MathF.Sqrt(d);
            Both((b, s) => b.AttentionForward(Side(q, s), Side(k, s), Side(v, s), Side(seg, s), scale, 0, Side(o, s), Side(lse, s)));
            c.Compare("AttentionForward output", o, SelfTestTolerance.F32);
            c.Compare("AttentionForward logSumExp", lse, SelfTestTolerance.F32);
            var dO = c.Random(DType.F32, 1f, bsz, t, hq, d);
            var dq = c.Empty(DType.F32, bsz, t, hq, d); var dk = c.Empty(DType.F32, bsz, t, hkv, d); var dv = c.Empty(DType.F32, bsz, t, hkv, d);
            Both((b, s) => b.AttentionBackward(Side(dO, s), Side(q, s), Side(k, s), Side(v, s), Side(seg, s), scale, 0, Side(o, s), Side(lse, s),
                Side(dq, s), Side(dk, s), Side(dv, s)));
            c.Compare("AttentionBackward dQ", dq, SelfTestTolerance.F32);
            c.Compare("AttentionBackward dK", dk, SelfTestTolerance.F32);
            c.Compare("AttentionBackward dV", dv, SelfTestTolerance.F32);
            // Gemma 3's 256-wide heads (the _d256 kernels, more than 48 KiB of shared memory) with a local layer's window
            var q2 = c.Random(DType.F32, 1f, 1, 40, 2, 256); var k2 = c.Random(DType.F32, 1f, 1, 40, 1, 256); var v2 = c.Random(DType.F32, 1f, 1, 40, 1, 256);
            var o2 = c.Empty(DType.F32, 1, 40, 2, 256); var lse2 = c.Empty(DType.F32, 1, 2, 40);
            Both((b, s) => b.AttentionForward(Side(q2, s), Side(k2, s), Side(v2, s), default, 0.0625f, 9, Side(o2, s), Side(lse2, s)));
            c.Compare("AttentionForward output (head_dim 256, window 9)", o2, SelfTestTolerance.F32);
            var dO2 = c.Random(DType.F32, 1f, 1, 40, 2, 256);
            var dq2 = c.Empty(DType.F32, 1, 40, 2, 256); var dk2 = c.Empty(DType.F32, 1, 40, 1, 256); var dv2 = c.Empty(DType.F32, 1, 40, 1, 256);
            Both((b, s) => b.AttentionBackward(Side(dO2, s), Side(q2, s), Side(k2, s), Side(v2, s), default, 0.0625f, 9, Side(o2, s), Side(lse2, s),
                Side(dq2, s), Side(dk2, s), Side(dv2, s)));
            c.Compare("AttentionBackward dQ (head_dim 256)", dq2, SelfTestTolerance.F32);
            c.Compare("AttentionBackward dK (head_dim 256)", dk2, SelfTestTolerance.F32);
            c.Compare("AttentionBackward dV (head_dim 256)", dv2, SelfTestTolerance.F32);
        });
        Try("SwiGlu", () =>
        {
            var g = c.Random(DType.F32, 4f, 50, 97); var u = c.Random(DType.F32, 2f, 50, 97); var y = c.Empty(DType.F32, 50, 97);
            Both((b, s) => b.SwiGluForward(Side(g, s), Side(u, s), Side(y, s)));
            c.Compare("SwiGluForward", y, SelfTestTolerance.F32);
            var dy = c.Random(DType.F32, 1f, 50, 97); var dg = c.Empty(DType.F32, 50, 97); var du = c.Empty(DType.F32, 50, 97);
            Both((b, s) => b.SwiGluBackward(Side(dy, s), Side(g, s), Side(u, s), Side(dg, s), Side(du, s)));
            c.Compare("SwiGluBackward dGate", dg, SelfTestTolerance.F32);
            c.Compare("SwiGluBackward dUp", du, SelfTestTolerance.F32);
        });
        Try("GeGlu", () =>
        {
            var g = c.Random(DType.F32, 4f, 50, 97); var u = c.Random(DType.F32, 2f, 50, 97); var y = c.Empty(DType.F32, 50, 97);
            Both((b, s) => b.GeGluForward(Side(g, s), Side(u, s), Side(y, s)));
            c.Compare("GeGluForward", y, SelfTestTolerance.F32);
            var dy = c.Random(DType.F32, 1f, 50, 97); var dg = c.Empty(DType.F32, 50, 97); var du = c.Empty(DType.F32, 50, 97);
            Both((b, s) => b.GeGluBackward(Side(dy, s), Side(g, s), Side(u, s), Side(dg, s), Side(du, s)));
            c.Compare("GeGluBackward dGate", dg, SelfTestTolerance.F32);
            c.Compare("GeGluBackward dUp", du, SelfTestTolerance.F32);
        });
        Try("GeluTanh", () =>
        {
            var x = c.Random(DType.F32, 4f, 3001); var y = c.Empty(DType.F32, 3001);
            Both((b, s) => b.GeluTanhForward(Side(x, s), Side(y, s)));
            c.Compare("GeluTanhForward", y, SelfTestTolerance.F32);
            var dy = c.Random(DType.F32, 1f, 3001); var dx = c.Empty(DType.F32, 3001);
            Both((b, s) => b.GeluTanhBackward(Side(dy, s), Side(x, s), Side(dx, s)));
            c.Compare("GeluTanhBackward", dx, SelfTestTolerance.F32);
        });
        Try("Dropout", () =>
        {
            var x = c.Random(DType.F32, 1f, 10007); var y = c.Empty(DType.F32, 10007);
            Both((b, s) => b.Dropout(Side(x, s), 0.3f, 0xDEADBEEFUL, Side(y, s)));
            c.Compare("Dropout p=0.3 (same mask)", y, SelfTestTolerance.F32);
        });
        Try("LmHeadCrossEntropy", () =>
        {
            const int t = 37, hidden = 64, vocab = 1000, chunk = 16;
            var hs = c.Random(DType.F32, 1f, t, hidden); var w = c.Random(DType.F32, 0.3f, vocab, hidden);
            var targets = Enumerable.Range(0, t).Select(i => i % 5 == 3 ? CrossEntropyResult.IgnoreIndex : (i * 37) % vocab).ToArray();
            var tg = c.Ints(targets, t);
            var scratch = c.Empty(DType.F32, chunk, vocab);
            var dh = c.Empty(DType.F32, t, hidden); var dw = c.Random(DType.F32, 0.1f, vocab, hidden);
            var valid = targets.Count(x => x != CrossEntropyResult.IgnoreIndex);
            var r = cpu.LmHeadCrossEntropy(hs.Ref, w.Ref, tg.Ref, scratch.Ref, 1f / valid, dh.Ref, dw.Ref);
            var g = cuda.LmHeadCrossEntropy(hs.Cand, w.Cand, tg.Cand, scratch.Cand, 1f / valid, dh.Cand, dw.Cand);
            c.CompareScalars("LmHeadCrossEntropy loss sum", r.LossSum, g.LossSum, gemmTol);
            c.CompareScalars("LmHeadCrossEntropy valid tokens", r.ValidTokens, g.ValidTokens, 0, "I32");
            c.Compare("LmHeadCrossEntropy dHidden", dh, gemmTol);
            c.Compare("LmHeadCrossEntropy dWeight (accumulate)", dw, gemmTol);
        });
        Try("AdamWStep", () =>
        {
            const int n = 20011;
            var p = c.Random(DType.F32, 1f, n); var g = c.Random(DType.F32, 0.1f, n);
            var m = c.Random(DType.F32, 0.01f, n); var v = c.Positive(0f, 1e-3f, n);
            var hyper = new AdamWHyperparameters(1e-3, 0.9, 0.999, 1e-8, 0.01, 7);
            Both((b, s) => b.AdamWStep(Side(p, s), Side(g, s), Side(m, s), Side(v, s), hyper));
            c.Compare("AdamWStep param", p, SelfTestTolerance.F32);
            c.Compare("AdamWStep m", m, SelfTestTolerance.F32);
            c.Compare("AdamWStep v", v, SelfTestTolerance.F32);
        });
        Try("DequantizeNf4", () =>
        {
            const int n = 4096, block = 64;
            var packed = new byte[n / 2];
            var rng = new Models.SplitMix64(99);
            for (var i = 0; i < packed.Length; i++) packed[i] = (byte)rng.Next();
            var pk = c.Bytes(packed); var absmax = c.Positive(0.01f, 2f, n / block);
            foreach (var dt in new[] { DType.F32, DType.BF16 })
            {
                var y = c.Empty(dt, n);
                Both((b, s) => b.DequantizeNf4(Side(pk, s), Side(absmax, s), block, Side(y, s)));
                c.Compare($"DequantizeNf4 -> {dt.Name()}", y, 0);
            }
        });
        Try("GemmNf4", () =>
        {
            const int rows = 160, cols = 192, m = 70;
            var q = Nf4.Quantize(c.RandomValues((long)rows * cols, 0.2f), [rows, cols]);
            var w = c.Nf4(q, rows, cols).RowSlice(16, 96); // a row slice, as fused projections use
            var x = c.Random(DType.F32, 1f, m, cols); var y = c.Random(DType.F32, 1f, m, 96);
            Both((b, s) => b.GemmNf4(Side(x, s), s ? w.Cand : w.Ref, true, Side(y, s), 0.5f, 1f));
            c.Compare("GemmNf4 x·Wᵀ (row slice, alpha 0.5, beta 1)", y, SelfTestTolerance.F32);
            var dy = c.Random(DType.F32, 1f, m, 96); var dx = c.Empty(DType.F32, m, cols);
            Both((b, s) => b.GemmNf4(Side(dy, s), s ? w.Cand : w.Ref, false, Side(dx, s)));
            c.Compare("GemmNf4 dy·W", dx, SelfTestTolerance.F32);
        });
        Try("Attention sliding window", () =>
        {
            const int bsz = 1, t = 90, hq = 4, hkv = 1, d = 64, window = 24;
            var q = c.Random(DType.F32, 1f, bsz, t, hq, d); var k = c.Random(DType.F32, 1f, bsz, t, hkv, d); var v = c.Random(DType.F32, 1f, bsz, t, hkv, d);
            var o = c.Empty(DType.F32, bsz, t, hq, d); var lse = c.Empty(DType.F32, bsz, hq, t);
            var scale = 1f / MathF.Sqrt(d);
            Both((b, s) => b.AttentionForward(Side(q, s), Side(k, s), Side(v, s), default, scale, window, Side(o, s), Side(lse, s)));
            c.Compare($"AttentionForward window {window} output", o, SelfTestTolerance.F32);
            var dO = c.Random(DType.F32, 1f, bsz, t, hq, d);
            var dq = c.Empty(DType.F32, bsz, t, hq, d); var dk = c.Empty(DType.F32, bsz, t, hkv, d); var dv = c.Empty(DType.F32, bsz, t, hkv, d);
            Both((b, s) => b.AttentionBackward(Side(dO, s), Side(q, s), Side(k, s), Side(v, s), default, scale, window, Side(o, s), Side(lse, s),
                Side(dq, s), Side(dk, s), Side(dv, s)));
            c.Compare($"AttentionBackward window {window} dQ", dq, SelfTestTolerance.F32);
            c.Compare($"AttentionBackward window {window} dK", dk, SelfTestTolerance.F32);
            c.Compare($"AttentionBackward window {window} dV", dv, SelfTestTolerance.F32);
        });
        Try("Attention head_dim 80", () =>
        {
            const int t = 40, hq = 2, hkv = 1, d = 80;
            var q = c.Random(DType.F32, 1f, 1, t, hq, d); var k = c.Random(DType.F32, 1f, 1, t, hkv, d); var v = c.Random(DType.F32, 1f, 1, t, hkv, d);
            var o = c.Empty(DType.F32, 1, t, hq, d); var lse = c.Empty(DType.F32, 1, hq, t);
            var scale = 1f / MathF.Sqrt(d);
            Both((b, s) => b.AttentionForward(Side(q, s), Side(k, s), Side(v, s), default, scale, 0, Side(o, s), Side(lse, s)));
            c.Compare("AttentionForward head_dim 80 output", o, SelfTestTolerance.F32);
            var dO = c.Random(DType.F32, 1f, 1, t, hq, d);
            var dq = c.Empty(DType.F32, 1, t, hq, d); var dk = c.Empty(DType.F32, 1, t, hkv, d); var dv = c.Empty(DType.F32, 1, t, hkv, d);
            Both((b, s) => b.AttentionBackward(Side(dO, s), Side(q, s), Side(k, s), Side(v, s), default, scale, 0, Side(o, s), Side(lse, s),
                Side(dq, s), Side(dk, s), Side(dv, s)));
            c.Compare("AttentionBackward head_dim 80 dQ", dq, SelfTestTolerance.F32);
            c.Compare("AttentionBackward head_dim 80 dK", dk, SelfTestTolerance.F32);
        });
        Try("Attention decode", () =>
        {
            // A KV-cache decode step (1 query over 77 cached keys) and a 6-query chunk, as generation runs them.
            const int tk = 77, hq = 8, hkv = 2, d = 64;
            var k = c.Random(DType.F32, 1f, 1, tk, hkv, d); var v = c.Random(DType.F32, 1f, 1, tk, hkv, d);
            var scale = 1f / MathF.Sqrt(d);
            foreach (var tq in new[] { 1, 6 })
            {
                var q = c.Random(DType.F32, 1f, 1, tq, hq, d);
                var o = c.Empty(DType.F32, 1, tq, hq, d); var lse = c.Empty(DType.F32, 1, hq, tq);
                Both((b, s) => b.AttentionForward(Side(q, s), Side(k, s), Side(v, s), default, scale, 0, Side(o, s), Side(lse, s)));
                c.Compare($"AttentionForward Tq={tq} over Tk={tk} output", o, SelfTestTolerance.F32);
                c.Compare($"AttentionForward Tq={tq} over Tk={tk} logSumExp", lse, SelfTestTolerance.F32);
            }
        });
        Try("Reproducibility", () =>
        {
            // Weight gradients of norms are reduced in a fixed order: two runs give the same bits.
            const int rows = 300, cols = 256;
            var x = c.Random(DType.F32, 2f, rows, cols); var w = c.Random(DType.F32, 1f, cols);
            var y = c.Empty(DType.F32, rows, cols); var rstd = c.Empty(DType.F32, rows);
            var dy = c.Random(DType.F32, 1f, rows, cols); var dx = c.Empty(DType.F32, rows, cols);
            cuda.RmsNormForward(x.Cand, w.Cand, 1e-5f, y.Cand, rstd.Cand);
            var runs = new float[2][];
            for (var run = 0; run < 2; run++)
            {
                var dw = c.Empty(DType.F32, cols);
                cuda.RmsNormBackward(dy.Cand, x.Cand, w.Cand, rstd.Cand, dx.Cand, dw.Cand);
                runs[run] = HostTransfer.Read(cuda, dw.Cand);
            }
            c.Add(SelfTestCompare.Row("RmsNormBackward dWeight run to run (bit-identical)", "F32", runs[0], runs[1], 0) with
            {
                Pass = runs[0].AsSpan().SequenceEqual(runs[1]),
            });
        });
        return [.. c.Rows];
    }
}
