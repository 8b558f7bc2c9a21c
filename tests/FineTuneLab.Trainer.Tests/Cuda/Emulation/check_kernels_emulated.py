#!/usr/bin/python3
"""Runs the CUDA kernels (compiled for the CPU with cuda_host_emulation.h into LIB) on small inputs and compares every
output with PyTorch 1.13 (CPU, fp32/fp64). Prints one line per case and exits non-zero if any case fails.

usage: check_kernels_emulated.py LIB"""
import ctypes as C
import math
import sys

import numpy as np
import torch
import torch.nn.functional as F

torch.manual_seed(1234)
LIB = C.CDLL(sys.argv[1])
THUNK = C.CFUNCTYPE(None)
LIB.ftl_emu_launch.argtypes = [THUNK, C.c_uint, C.c_uint, C.c_uint, C.c_uint]
LIB.ftl_emu_launch.restype = C.c_int
FAILURES = []
CASES = []


# ---- buffers: numpy arrays the kernels read and write in place; bf16 and fp16 travel as raw 16-bit words ----------
def buf(t, dtype="f32"):
    t = t.detach().contiguous()
    if dtype == "f32":
        return t.to(torch.float32).numpy().copy()
    if dtype == "bf16":
        return t.to(torch.bfloat16).view(torch.int16).numpy().copy()
    if dtype == "f16":
        return t.to(torch.float16).view(torch.int16).numpy().copy()
    if dtype == "i32":
        return t.to(torch.int32).numpy().copy()
    raise ValueError(dtype)


def tens(a, dtype="f32"):
    if dtype == "f32":
        return torch.from_numpy(a.copy())
    if dtype == "bf16":
        return torch.from_numpy(a.copy()).view(torch.bfloat16).float()
    if dtype == "f16":
        return torch.from_numpy(a.copy()).view(torch.float16).float()
    raise ValueError(dtype)


def P(a):
    # The array rides along so it stays alive until the launch is over (a temporary would be freed at once).
    return (C.c_void_p, None if a is None else a.ctypes.data, a)


def I(v):
    return (C.c_int, v)


def L(v):
    return (C.c_longlong, v)


def Fl(v):
    return (C.c_float, v)


def U(v):
    return (C.c_ulonglong, v)


def launch(kernel, grid, block, *args):
    fn = getattr(LIB, kernel)
    fn.restype = None
    fn.argtypes = [a[0] for a in args]
    values = [a[1] for a in args]
    thunk = THUNK(lambda: fn(*values))
    grid = tuple(grid) + (1,) * (3 - len(tuple(grid)))
    rc = LIB.ftl_emu_launch(thunk, grid[0], grid[1], grid[2], block)
    assert rc == 0, f"{kernel}: bad launch configuration"


def check(case, got, want, atol, rtol=0.0):
    got = torch.as_tensor(got).double()
    want = torch.as_tensor(want).double()
    CASES.append(case)
    if got.shape != want.shape:
        FAILURES.append(case)
        print(f"FAIL {case}: shape {tuple(got.shape)} vs {tuple(want.shape)}")
        return
    err = torch.where(got == want, torch.zeros_like(got), (got - want).abs())  # inf == inf is no error
    bound = atol + rtol * want.abs()
    bad = ~((err <= bound) | (got == want))  # NaN counts as bad; equal infinities do not
    worst = float(err.max()) if err.numel() else 0.0
    if bool(bad.any()):
        FAILURES.append(case)
        i = int(torch.nonzero(bad.flatten())[0])
        print(f"FAIL {case}: max |err| {worst:.3g}; first bad element {i}: got {float(got.flatten()[i])} want {float(want.flatten()[i])}")
    else:
        print(f"ok   {case}: max |err| {worst:.3g}")


def exact(case, got, want):
    check(case, got, want, 0.0)


TOL = {"f32": (2e-5, 2e-5), "bf16": (2e-2, 2e-2), "f16": (2e-3, 2e-3)}


def rounded(t, dtype):
    """What the kernel's inputs are after the cast to its I/O type."""
    return tens(buf(t, dtype), dtype) if dtype != "f32" else t.float()


# ---- norms ---------------------------------------------------------------------------------------------------------
def sequential_sum(prior, partial):
    """prior + partial[0] + partial[1] + ... in fp32, in block order, as norm_param_grad_reduce adds them."""
    total = np.zeros_like(prior)
    for p in range(partial.shape[0]):
        total = (total + partial[p]).astype(np.float32)
    return (prior + total).astype(np.float32)


def test_rmsnorm(dtype):
    rows, cols, eps = 6, 200, 1e-5
    x = rounded(torch.randn(rows, cols) * 3 + 0.5, dtype)
    w = rounded(torch.rand(cols) + 0.5, dtype)
    xb, wb = buf(x, dtype), buf(w, dtype)
    out, rstd = np.zeros_like(xb), np.zeros(rows, np.float32)
    launch(f"rmsnorm_fwd_{dtype}", (rows,), 64, P(out), P(rstd), P(xb), P(wb), I(rows), I(cols), Fl(eps), Fl(0.0))
    xr = x.double().requires_grad_()
    ref = xr * torch.rsqrt(xr.pow(2).mean(-1, keepdim=True) + eps) * w.double()
    check(f"rmsnorm_fwd_{dtype} y", tens(out, dtype), ref.detach(), *TOL[dtype])
    check(f"rmsnorm_fwd_{dtype} rstd", rstd, torch.rsqrt(x.double().pow(2).mean(-1) + eps), 1e-6, 1e-5)
    dy = rounded(torch.randn(rows, cols), dtype)
    wr = w.double().requires_grad_()
    y = xr * torch.rsqrt(xr.pow(2).mean(-1, keepdim=True) + eps) * wr
    y.backward(dy.double())
    prior = rounded(torch.randn(rows, cols), dtype)
    # 4 blocks over 6 rows: blocks 0 and 1 take two rows each, so the per-block partial sums run over several rows.
    parts = 4
    dx, partial = buf(prior, dtype), np.full((parts, cols), np.nan, np.float32)  # the kernel must clear its partials
    launch(f"rmsnorm_bwd_{dtype}", (parts,), 64, P(dx), P(partial), P(buf(dy, dtype)), P(xb), P(wb), P(rstd), I(rows), I(cols), Fl(0.0), I(1))
    check(f"rmsnorm_bwd_{dtype} dx (accumulated)", tens(dx, dtype), xr.grad + prior.double(), *TOL[dtype])
    dw_prior = torch.randn(cols)
    dw = dw_prior.numpy().copy()
    launch("norm_param_grad_reduce", (2,), 64, P(dw), P(partial), I(parts), I(cols))
    check(f"rmsnorm_bwd_{dtype} dw (two-stage, accumulated)", dw, wr.grad + dw_prior.double(), 1e-4 if dtype == "f32" else 5e-2, 1e-4)
    exact(f"rmsnorm_bwd_{dtype} dw partials summed in block order", dw, sequential_sum(dw_prior.numpy(), partial))
    # Without a weight gradient (frozen norm) the partials pointer is null and dx is unchanged.
    dx2 = buf(prior, dtype)
    launch(f"rmsnorm_bwd_{dtype}", (rows,), 64, P(dx2), P(None), P(buf(dy, dtype)), P(xb), P(wb), P(rstd), I(rows), I(cols), Fl(0.0), I(1))
    exact(f"rmsnorm_bwd_{dtype} dx without dw", tens(dx2, dtype), tens(dx, dtype))

    # Gemma's RMSNorm: x * rstd * (1 + w) with w stored centred on 0 (weight_offset 1), forward and backward.
    wg = rounded(torch.randn(cols) * 0.3, dtype)
    wgb = buf(wg, dtype)
    out = np.zeros_like(xb)
    launch(f"rmsnorm_fwd_{dtype}", (rows,), 64, P(out), P(rstd), P(xb), P(wgb), I(rows), I(cols), Fl(eps), Fl(1.0))
    wgr = wg.double().requires_grad_()
    xg = x.double().requires_grad_()
    y = xg * torch.rsqrt(xg.pow(2).mean(-1, keepdim=True) + eps) * (1.0 + wgr)
    check(f"rmsnorm_fwd_{dtype} y (1 + w)", tens(out, dtype), y.detach(), *TOL[dtype])
    y.backward(dy.double())
    dx3, partial = np.zeros_like(xb), np.full((parts, cols), np.nan, np.float32)
    launch(f"rmsnorm_bwd_{dtype}", (parts,), 64, P(dx3), P(partial), P(buf(dy, dtype)), P(xb), P(wgb), P(rstd), I(rows), I(cols), Fl(1.0), I(0))
    check(f"rmsnorm_bwd_{dtype} dx (1 + w)", tens(dx3, dtype), xg.grad, *TOL[dtype])
    dw = np.zeros(cols, np.float32)
    launch("norm_param_grad_reduce", (2,), 64, P(dw), P(partial), I(parts), I(cols))
    check(f"rmsnorm_bwd_{dtype} dw (1 + w)", dw, wgr.grad, 1e-4 if dtype == "f32" else 5e-2, 1e-4)


def test_layernorm(dtype):
    rows, cols, eps = 5, 96, 1e-5
    x = rounded(torch.randn(rows, cols) * 2 + 4.0, dtype)
    w = rounded(torch.rand(cols) + 0.5, dtype)
    b = rounded(torch.randn(cols), dtype)
    xb, wb, bb = buf(x, dtype), buf(w, dtype), buf(b, dtype)
    out, mean, rstd = np.zeros_like(xb), np.zeros(rows, np.float32), np.zeros(rows, np.float32)
    launch(f"layernorm_fwd_{dtype}", (rows,), 64, P(out), P(mean), P(rstd), P(xb), P(wb), P(bb), I(rows), I(cols), Fl(eps))
    xr, wr, br = (t.double().requires_grad_() for t in (x, w, b))
    y = F.layer_norm(xr, (cols,), wr, br, eps)
    check(f"layernorm_fwd_{dtype} y", tens(out, dtype), y.detach(), *TOL[dtype])
    check(f"layernorm_fwd_{dtype} mean", mean, x.double().mean(-1), 1e-5, 1e-6)
    dy = rounded(torch.randn(rows, cols), dtype)
    y.backward(dy.double())
    parts = 2
    dx, dwp, dbp = np.zeros_like(xb), np.full((parts, cols), np.nan, np.float32), np.full((parts, cols), np.nan, np.float32)
    launch(f"layernorm_bwd_{dtype}", (parts,), 64, P(dx), P(dwp), P(dbp), P(buf(dy, dtype)), P(xb), P(wb), P(mean), P(rstd), I(rows), I(cols), I(0))
    dw, db = np.zeros(cols, np.float32), np.zeros(cols, np.float32)
    launch("norm_param_grad_reduce", (1,), 64, P(dw), P(dwp), I(parts), I(cols))
    launch("norm_param_grad_reduce", (1,), 64, P(db), P(dbp), I(parts), I(cols))
    check(f"layernorm_bwd_{dtype} dx", tens(dx, dtype), xr.grad, *TOL[dtype])
    check(f"layernorm_bwd_{dtype} dw", dw, wr.grad, 1e-4 if dtype == "f32" else 5e-2, 1e-4)
    check(f"layernorm_bwd_{dtype} db", db, br.grad, 1e-4, 1e-5)


def attention_reference(q, k, v, scale, segments, window=0):
    # q: [B, Tq, Hq, D], k/v: [B, Tk, Hkv, D] (double); GQA by repeating kv heads; query i at position Tk - Tq + i;
    # causal, within the sliding window (window > 0), same segment
    B, Tq, Hq, D = q.shape
    Tk = k.shape[1]
    group = Hq // k.shape[2]
    kk = k.repeat_interleave(group, dim=2)
    vv = v.repeat_interleave(group, dim=2)
    s = torch.einsum("bihd,bjhd->bhij", q, kk) * scale
    pos = torch.arange(Tq)[:, None] + (Tk - Tq)
    key = torch.arange(Tk)[None, :]
    mask = (key <= pos)
    if window > 0:
        mask = mask & (pos - key < window)
    mask = mask[None, None]
    if segments is not None:
        qseg = segments[:, Tk - Tq:]
        mask = mask & (qseg[:, None, :, None] == segments[:, None, None, :])
    s = s.masked_fill(~mask, float("-inf"))
    lse = torch.logsumexp(s, dim=-1)  # [B, Hq, Tq]
    out = torch.einsum("bhij,bjhd->bihd", torch.softmax(s, dim=-1), vv)
    return out, lse


def test_attention(dtype, head_dim, with_segments, B, T, Hq, Hkv, window=0, Tq=None):
    # Small shapes: every warp shuffle is a rendezvous of 32 OS threads in the emulation.
    # T is the number of keys; Tq (default T) queries sit at the last Tq positions (Tq < T: decoding over a KV cache).
    Tq = T if Tq is None else Tq
    scale = 1.0 / math.sqrt(head_dim)
    q = rounded(torch.randn(B, Tq, Hq, head_dim), dtype)
    k = rounded(torch.randn(B, T, Hkv, head_dim), dtype)
    v = rounded(torch.randn(B, T, Hkv, head_dim), dtype)
    segments = None
    if with_segments:
        segments = torch.zeros(B, T, dtype=torch.int32)
        segments[0, T // 3:] = 1
        segments[0, 2 * T // 3:] = 2
        if B > 1:
            segments[1, T // 2:] = 1
    qb, kb, vb = buf(q, dtype), buf(k, dtype), buf(v, dtype)
    seg = buf(segments, "i32") if segments is not None else None
    out, lse = np.zeros_like(qb), np.zeros((B, Hq, Tq), np.float32)
    cap = "" if head_dim <= 128 else "_d256"  # the kernels sized for heads up to 256 (Gemma 3)
    launch(f"attn_fwd{cap}_{dtype}", ((Tq + 15) // 16, Hq, B), 256, P(out), P(lse), P(qb), P(kb), P(vb), P(seg),
           I(Tq), I(T), I(Hq), I(Hkv), I(head_dim), Fl(scale), I(window))
    qr, kr, vr = (t.double().requires_grad_() for t in (q, k, v))
    ref, ref_lse = attention_reference(qr, kr, vr, scale, segments, window)
    tag = (f"{dtype} D={head_dim} B={B} T={T} Hq={Hq} Hkv={Hkv}{' segments' if with_segments else ''}"
           f"{f' window={window}' if window else ''}{f' Tq={Tq}' if Tq != T else ''}")
    check(f"attn_fwd {tag} out", tens(out, dtype), ref.detach(), *TOL[dtype])
    check(f"attn_fwd {tag} lse", lse, ref_lse.detach(), 1e-4, 1e-5)
    dout = rounded(torch.randn(B, Tq, Hq, head_dim), dtype)
    ref.backward(dout.double())
    doutb = buf(dout, dtype)
    delta = np.zeros((B, Hq, Tq), np.float32)
    launch(f"attn_bwd_delta_{dtype}", (3,), 256, P(delta), P(doutb), P(out), I(B), I(Tq), I(Hq), I(head_dim))
    check(f"attn_bwd_delta {tag}", delta, (dout.double() * tens(out, dtype).double()).sum(-1).permute(0, 2, 1), 1e-4, 1e-5)
    dq, dk, dv = np.zeros_like(qb), np.full_like(kb, 7), np.full_like(vb, 7)  # every dk/dv element must be written
    launch(f"attn_bwd_dq{cap}_{dtype}", ((Tq + 7) // 8, Hq, B), 256, P(dq), P(doutb), P(qb), P(kb), P(vb), P(lse), P(delta), P(seg),
           I(Tq), I(T), I(Hq), I(Hkv), I(head_dim), Fl(scale), I(window))
    launch(f"attn_bwd_dkdv{cap}_{dtype}", ((T + 7) // 8, Hkv, B), 256, P(dk), P(dv), P(doutb), P(qb), P(kb), P(vb), P(lse), P(delta), P(seg),
           I(Tq), I(T), I(Hq), I(Hkv), I(head_dim), Fl(scale), I(window))
    atol, rtol = (1e-4, 1e-4) if dtype == "f32" else TOL[dtype]
    check(f"attn_bwd {tag} dq", tens(dq, dtype), qr.grad, atol, rtol)
    check(f"attn_bwd {tag} dk", tens(dk, dtype), kr.grad, atol, rtol)
    check(f"attn_bwd {tag} dv", tens(dv, dtype), vr.grad, atol, rtol)


# ---- activations, residual -----------------------------------------------------------------------------------------
def test_activations(dtype):
    n = 1000
    g, u = rounded(torch.randn(n) * 4, dtype), rounded(torch.randn(n), dtype)
    gb, ub = buf(g, dtype), buf(u, dtype)
    out = np.zeros_like(gb)
    launch(f"swiglu_fwd_{dtype}", (2,), 128, P(out), P(gb), P(ub), L(n))
    gr, ur = g.double().requires_grad_(), u.double().requires_grad_()
    y = F.silu(gr) * ur
    check(f"swiglu_fwd_{dtype}", tens(out, dtype), y.detach(), *TOL[dtype])
    dy = rounded(torch.randn(n), dtype)
    y.backward(dy.double())
    dg, du = np.zeros_like(gb), np.zeros_like(ub)
    launch(f"swiglu_bwd_{dtype}", (2,), 128, P(dg), P(du), P(buf(dy, dtype)), P(gb), P(ub), L(n))
    check(f"swiglu_bwd_{dtype} dgate", tens(dg, dtype), gr.grad, *TOL[dtype])
    check(f"swiglu_bwd_{dtype} dup", tens(du, dtype), ur.grad, *TOL[dtype])

    # GeGLU (Gemma): gelu_tanh(gate) * up; the backward in place (dgate over gate, dup over up)
    out = np.zeros_like(gb)
    launch(f"geglu_fwd_{dtype}", (2,), 128, P(out), P(gb), P(ub), L(n))
    gr, ur = g.double().requires_grad_(), u.double().requires_grad_()
    y = F.gelu(gr, approximate="tanh") * ur
    check(f"geglu_fwd_{dtype}", tens(out, dtype), y.detach(), *TOL[dtype])
    y.backward(dy.double())
    gi, ui = buf(g, dtype), buf(u, dtype)
    launch(f"geglu_bwd_{dtype}", (2,), 128, P(gi), P(ui), P(buf(dy, dtype)), P(gi), P(ui), L(n))
    check(f"geglu_bwd_{dtype} dgate (in place)", tens(gi, dtype), gr.grad, *TOL[dtype])
    check(f"geglu_bwd_{dtype} dup (in place)", tens(ui, dtype), ur.grad, *TOL[dtype])

    x = rounded(torch.randn(n) * 3, dtype)
    xb = buf(x, dtype)
    out = np.zeros_like(xb)
    launch(f"gelu_tanh_fwd_{dtype}", (3,), 64, P(out), P(xb), L(n))
    xr = x.double().requires_grad_()
    y = F.gelu(xr, approximate="tanh")
    check(f"gelu_tanh_fwd_{dtype}", tens(out, dtype), y.detach(), *TOL[dtype])
    y.backward(dy.double())
    dyb = buf(dy, dtype)
    launch(f"gelu_tanh_bwd_{dtype}", (3,), 64, P(dyb), P(dyb), P(xb), L(n))  # in place
    check(f"gelu_tanh_bwd_{dtype} (in place)", tens(dyb, dtype), xr.grad, *TOL[dtype])

    a, b = rounded(torch.randn(n), dtype), rounded(torch.randn(n), dtype)
    ab = buf(a, dtype)
    launch(f"residual_add_{dtype}", (2,), 128, P(ab), P(ab), P(buf(b, dtype)), L(n))
    check(f"residual_add_{dtype} (in place)", tens(ab, dtype), rounded(a + b, dtype), 0.0)


# ---- cross-entropy -------------------------------------------------------------------------------------------------
def test_cross_entropy(dtype):
    rows, vocab = 7, 1000
    logits = rounded(torch.randn(rows, vocab) * 3, dtype)
    targets = torch.tensor([5, -100, 999, 0, 123, -100, 777], dtype=torch.int32)
    valid = int((targets != -100).sum())
    lr_ = logits.double().requires_grad_()
    per_row = F.cross_entropy(lr_, targets.long(), ignore_index=-100, reduction="none")
    (per_row.sum() / valid).backward()
    ref_lse = torch.logsumexp(logits.double(), dim=-1)
    tb = buf(targets, "i32")

    lb = buf(logits, dtype)
    losses, lse = np.zeros(rows, np.float32), np.zeros(rows, np.float32)
    launch(f"ce_fused_rows_{dtype}", (rows,), 128, P(lb), P(losses), P(lse), P(tb), I(rows), I(vocab), L(vocab), Fl(1.0 / valid), I(1))
    check(f"ce_fused_rows_{dtype} loss", losses, per_row.detach(), 1e-4, 1e-5)
    check(f"ce_fused_rows_{dtype} lse", lse, ref_lse, 1e-4, 1e-6)
    check(f"ce_fused_rows_{dtype} grad (in place)", tens(lb, dtype), lr_.grad, 1e-6 if dtype == "f32" else 1e-3, TOL[dtype][1])

def test_cross_entropy_bad_target():
    logits = buf(torch.randn(2, 10))
    losses, lse = np.zeros(2, np.float32), np.zeros(2, np.float32)
    launch("ce_fused_rows_f32", (2,), 32, P(logits), P(losses), P(lse), P(buf(torch.tensor([3, 10]), "i32")), I(2), I(10), L(10), Fl(1.0), I(1))
    CASES.append("ce target out of range gives NaN loss and zero gradient")
    if not (math.isnan(losses[1]) and not math.isnan(losses[0]) and np.all(logits[1] == 0)):
        FAILURES.append(CASES[-1])
        print(f"FAIL {CASES[-1]}: losses {losses}, row 1 {logits[1]}")
    else:
        print(f"ok   {CASES[-1]}")


# ---- optimizer and clipping ----------------------------------------------------------------------------------------
def test_adamw_with_clipping(grad_dtype):
    sizes = [300, 77]
    params = [torch.randn(n) for n in sizes]
    ref_params = [p.clone().double().requires_grad_() for p in params]
    lr, b1, b2, eps, wd, max_norm = 1e-2, 0.9, 0.95, 1e-8, 0.1, 1.0
    opt = torch.optim.AdamW(ref_params, lr=lr, betas=(b1, b2), eps=eps, weight_decay=wd)
    ours = [buf(p) for p in params]
    m = [np.zeros(n, np.float32) for n in sizes]
    v = [np.zeros(n, np.float32) for n in sizes]
    blocks = 4
    for step in range(1, 4):
        grads = [rounded(torch.randn(n) * (3.0 if step == 2 else 0.05), grad_dtype) for n in sizes]
        for p, g in zip(ref_params, grads):
            p.grad = g.double().clone()
        ref_norm = float(torch.nn.utils.clip_grad_norm_(ref_params, max_norm))
        opt.step()
        partials = np.zeros(blocks * len(sizes), np.float32)
        for i, g in enumerate(grads):
            launch(f"sumsq_partials_{grad_dtype}", (blocks,), 64, P(partials), I(i * blocks), P(buf(g, grad_dtype)), L(sizes[i]))
        # the backend sums the partials on the host, in order, and clips there (GradientClipping)
        norm = math.sqrt(float(np.sum(partials.astype(np.float64))))
        check(f"grad norm {grad_dtype} step {step}", np.array([norm]), [ref_norm], 1e-5, 1e-5)
        scale = np.array([min(1.0, max_norm / (norm + 1e-6))], np.float32)
        bc1, bc2 = 1 - b1 ** step, 1 - b2 ** step
        for i, g in enumerate(grads):
            launch(f"adamw_{grad_dtype}", (3,), 64, P(ours[i]), P(buf(g, grad_dtype)), P(m[i]), P(v[i]), L(sizes[i]), Fl(lr), Fl(b1), Fl(b2),
                   Fl(eps), Fl(wd), Fl(bc1), Fl(bc2), P(scale))
        for i in range(len(sizes)):
            check(f"adamw_{grad_dtype} step {step} tensor {i}", ours[i], ref_params[i].detach(), 2e-6, 2e-5)


# ---- conversion --------------------------------------------------------------------------------------
def test_convert():
    specials = torch.tensor([0.0, -0.0, 1.0, 1.00390625, 1.01171875, 3.4e38, -3.4e38, 1e-40, -1e-42, float("inf"), float("-inf"), 65504.0, 65520.0, 6e-8, 1e-9])
    x = torch.cat([specials, torch.randn(2000) * 100, torch.randn(1000) * 1e-3])
    n = x.numel()
    xb = buf(x)
    for to, torch_dtype in (("bf16", torch.bfloat16), ("f16", torch.float16)):
        out = np.zeros(n, np.int16)
        launch(f"convert_f32_to_{to}", (4,), 64, P(out), P(xb), L(n))
        exact(f"convert_f32_to_{to} bit-exact vs torch (ties to even, inf, denormals)", out, x.to(torch_dtype).view(torch.int16).numpy())
        back = np.zeros(n, np.float32)
        launch(f"convert_{to}_to_f32", (4,), 64, P(back), P(out), L(n))
        exact(f"convert_{to}_to_f32 exact", back, x.to(torch_dtype).float())
    nan = np.zeros(1, np.int16)
    launch("convert_f32_to_bf16", (1,), 32, P(nan), P(buf(torch.tensor([float("nan")]))), L(1))
    CASES.append("convert_f32_to_bf16 keeps NaN a NaN")
    if not math.isnan(float(tens(nan, "bf16")[0])):
        FAILURES.append(CASES[-1])
        print(f"FAIL {CASES[-1]}")
    else:
        print(f"ok   {CASES[-1]}")
    y = rounded(torch.randn(500) * 10, "bf16")
    out = np.zeros(500, np.int16)
    launch("convert_bf16_to_f16", (2,), 64, P(out), P(buf(y, "bf16")), L(500))
    exact("convert_bf16_to_f16 bit-exact", out, y.to(torch.float16).view(torch.int16).numpy())


def main():
    for dtype in ("f32", "bf16", "f16"):
        test_rmsnorm(dtype)
        test_layernorm(dtype)
        test_activations(dtype)
    for dtype in ("f32", "bf16"):
        test_cross_entropy(dtype)
        test_adamw_with_clipping(dtype)
    test_cross_entropy_bad_target()
    test_attention("f32", 64, False, B=1, T=37, Hq=4, Hkv=2)  # several tiles, ragged last tile, GQA group of 2
    test_attention("f32", 32, True, B=2, T=20, Hq=2, Hkv=1)   # packed documents, batch > 1
    test_attention("bf16", 64, True, B=1, T=20, Hq=2, Hkv=1)
    test_attention("f32", 128, False, B=1, T=12, Hq=3, Hkv=1)  # widest head, group of 3
    test_attention("f32", 32, False, B=1, T=70, Hq=1, Hkv=1, window=20)  # sliding window: whole key tiles skipped
    test_attention("f32", 32, True, B=1, T=45, Hq=2, Hkv=1, window=7)  # window inside packed documents
    test_attention("bf16", 64, False, B=1, T=40, Hq=1, Hkv=1, window=33)
    test_attention("f32", 64, False, B=1, T=40, Hq=4, Hkv=2, Tq=1)  # one decode step over a KV cache
    test_attention("f32", 32, True, B=1, T=41, Hq=2, Hkv=1, window=9, Tq=5)  # a chunk of queries, window and segments
    test_attention("f32", 80, False, B=1, T=20, Hq=2, Hkv=1)  # a head_dim that is not a multiple of 32 (Phi-2's 80)
    test_attention("f32", 256, False, B=1, T=13, Hq=2, Hkv=1, window=6)  # Gemma 3's heads and a local layer's window
    test_attention("bf16", 160, True, B=1, T=12, Hq=2, Hkv=2, Tq=3)  # the d256 kernels with a partial last slice
    test_convert()
    print(f"{len(CASES) - len(FAILURES)} passed, {len(FAILURES)} failed")
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
