#!/usr/bin/python3
"""Reference cases for the trainer's CPU kernels, computed by PyTorch (1.13, float64 unless a case says float32).

usage: torch_ops_ref.py OUT_DIR
Writes OUT_DIR/index.json and OUT_DIR/data.bin. index.json maps each case to its scalar params and tensors; each
tensor is {dtype: f32|i32|u16, shape, offset (bytes into data.bin)}; data is little-endian. Inputs are float32 (what
the kernels get); expected outputs are float64 results rounded to float32, except for cases marked float32 (AdamW,
clipping, bf16/fp16 conversion) where PyTorch's own float32 arithmetic is the reference.
"""
import json
import math
import os
import sys

import torch
import torch.nn.functional as F

torch.manual_seed(1234)
cases = {}
blob = bytearray()


def put(case, name, t):
    global blob
    t = t.detach().contiguous()
    if t.dtype in (torch.float64, torch.float32):
        arr, dt = t.to(torch.float32), "f32"
    elif t.dtype in (torch.int64, torch.int32):
        arr, dt = t.to(torch.int32), "i32"
    elif t.dtype in (torch.bfloat16, torch.float16):
        arr, dt = t.view(torch.int16), "u16"
    else:
        raise ValueError(f"{case}.{name}: unsupported dtype {t.dtype}")
    data = arr.numpy().tobytes()
    while len(blob) % 16:
        blob.append(0)
    cases[case]["tensors"][name] = {"dtype": dt, "shape": list(t.shape), "offset": len(blob)}
    blob.extend(data)


def case(name, **params):
    cases[name] = {"params": params, "tensors": {}}
    return name


def f32(*shape, scale=1.0):
    return (torch.randn(*shape) * scale).to(torch.float32)


# ---------------------------------------------------------------- GEMM
def gemm_case(name, m, n, k, trans_a, trans_b, alpha, beta, b_dtype=torch.float32):
    c = case(name, transA=trans_a, transB=trans_b, alpha=alpha, beta=beta)
    a = f32(k, m) if trans_a else f32(m, k)
    b = f32(n, k) if trans_b else f32(k, n)
    b_q = b.to(b_dtype)
    c0 = f32(m, n)
    opa = a.double().t() if trans_a else a.double()
    opb = b_q.double().t() if trans_b else b_q.double()
    expected = alpha * (opa @ opb) + beta * c0.double()
    put(c, "a", a); put(c, "b", b_q); put(c, "c0", c0); put(c, "expected", expected)


for ta in (False, True):
    for tb in (False, True):
        gemm_case(f"gemm_f32_{int(ta)}{int(tb)}", 37, 53, 300, ta, tb, 0.5, 0.75)
        gemm_case(f"gemm_bf16_{int(ta)}{int(tb)}", 29, 70, 90, ta, tb, 1.0, 0.0, torch.bfloat16)
gemm_case("gemm_f16_01", 20, 33, 40, False, True, 1.0, 1.0, torch.float16)
gemm_case("gemm_wide", 130, 1100, 64, False, True, 1.0, 0.0)
gemm_case("gemm_tall", 700, 12, 520, True, False, 2.0, 0.0)


# ---------------------------------------------------------------- norms
def rmsnorm_case():
    c = case("rmsnorm", eps=1e-5)
    x = f32(10, 96, scale=2.0); w = f32(96) + 1; dy = f32(10, 96)
    xd = x.double().requires_grad_(); wd = w.double().requires_grad_()
    var = xd.pow(2).mean(-1, keepdim=True)
    rstd = torch.rsqrt(var + 1e-5)
    y = wd * (xd * rstd)
    y.backward(dy.double())
    put(c, "x", x); put(c, "weight", w); put(c, "dy", dy)
    put(c, "y", y); put(c, "rstd", rstd.squeeze(-1)); put(c, "dx", xd.grad); put(c, "dweight", wd.grad)


def rmsnorm_gemma_case():
    # Gemma: x * rstd * (1 + w), weights centred on 0, over head-sized rows (its q/k norms)
    c = case("rmsnorm_gemma", eps=1e-6)
    x = f32(40, 24, scale=2.0); w = f32(24, scale=0.3); dy = f32(40, 24)
    xd = x.double().requires_grad_(); wd = w.double().requires_grad_()
    rstd = torch.rsqrt(xd.pow(2).mean(-1, keepdim=True) + 1e-6)
    y = (xd * rstd) * (1.0 + wd)
    y.backward(dy.double())
    put(c, "x", x); put(c, "weight", w); put(c, "dy", dy)
    put(c, "y", y); put(c, "rstd", rstd.squeeze(-1)); put(c, "dx", xd.grad); put(c, "dweight", wd.grad)


def layernorm_case():
    c = case("layernorm", eps=1e-5)
    x = f32(9, 80, scale=3.0) + 0.5; w = f32(80) + 1; b = f32(80); dy = f32(9, 80)
    xd = x.double().requires_grad_(); wd = w.double().requires_grad_(); bd = b.double().requires_grad_()
    y = F.layer_norm(xd, (80,), wd, bd, 1e-5)
    y.backward(dy.double())
    mean = xd.mean(-1)
    rstd = torch.rsqrt(xd.var(-1, unbiased=False) + 1e-5)
    put(c, "x", x); put(c, "weight", w); put(c, "bias", b); put(c, "dy", dy)
    put(c, "y", y); put(c, "mean", mean); put(c, "rstd", rstd)
    put(c, "dx", xd.grad); put(c, "dweight", wd.grad); put(c, "dbias", bd.grad)


rmsnorm_case()
rmsnorm_gemma_case()
layernorm_case()


# ---------------------------------------------------------------- RoPE (transformers' LlamaRotaryEmbedding, float32)
def hf_inv_freq(dim, base, scaling):
    inv_freq = 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.int64).float() / dim))
    if scaling is None:
        return inv_freq
    if scaling["type"] == "linear":
        return inv_freq / scaling["factor"]
    factor = scaling["factor"]; low = scaling["low_freq_factor"]; high = scaling["high_freq_factor"]
    old = scaling["original_max_position_embeddings"]
    low_freq_wavelen = old / low
    high_freq_wavelen = old / high
    wavelen = 2 * math.pi / inv_freq
    inv_freq_llama = torch.where(wavelen > low_freq_wavelen, inv_freq / factor, inv_freq)
    smooth_factor = (old / wavelen - low) / (high - low)
    smoothed_inv_freq = (1 - smooth_factor) * inv_freq_llama / factor + smooth_factor * inv_freq_llama
    is_medium_freq = ~(wavelen < high_freq_wavelen) * ~(wavelen > low_freq_wavelen)
    return torch.where(is_medium_freq, smoothed_inv_freq, inv_freq_llama)


def hf_cos_sin(dim, base, scaling, max_pos):
    inv_freq = hf_inv_freq(dim, base, scaling)
    pos = torch.arange(max_pos).float()
    freqs = (inv_freq[:, None].float() @ pos[None, :]).transpose(0, 1)
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos(), emb.sin()


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


def rope_case(name, dim, base, scaling, max_pos, heads, positions):
    params = {"theta": base, "maxPositions": max_pos}
    if scaling is not None:
        params.update({"scaling_" + k: v for k, v in scaling.items()})
    c = case(name, **params)
    cos, sin = hf_cos_sin(dim, base, scaling, max_pos)
    pos = torch.tensor(positions, dtype=torch.int64)
    t = len(positions)
    x = f32(t, heads, dim); dy = f32(t, heads, dim)
    xd = x.double().requires_grad_()
    cp = cos.double()[pos][:, None, :]; sp = sin.double()[pos][:, None, :]
    y = xd * cp + rotate_half(xd) * sp
    y.backward(dy.double())
    put(c, "cos", cos); put(c, "sin", sin); put(c, "positions", pos)
    put(c, "x", x); put(c, "dy", dy); put(c, "y", y); put(c, "dx", xd.grad)


rope_case("rope_plain", 16, 10000.0, None, 32, 3, list(range(7)) + list(range(5)))
rope_case("rope_llama3", 64, 500000.0,
          {"type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
           "original_max_position_embeddings": 8192}, 2048, 2, [0, 1, 2, 100, 1000, 2047, 5, 6])
rope_case("rope_linear", 32, 10000.0, {"type": "linear", "factor": 4.0}, 64, 2, [0, 3, 63, 10])


# ---------------------------------------------------------------- attention (naive masked softmax in float64)
def attention_case(name, b, tq, tk, hq, hkv, d, segments, window):
    c = case(name, scale=1.0 / math.sqrt(d), window=window)
    q = f32(b, tq, hq, d); k = f32(b, tk, hkv, d); v = f32(b, tk, hkv, d); do = f32(b, tq, hq, d)
    qd, kd, vd = (t.double().requires_grad_() for t in (q, k, v))
    group = hq // hkv
    kk = kd.repeat_interleave(group, dim=2); vv = vd.repeat_interleave(group, dim=2)
    s = torch.einsum("bihd,bjhd->bhij", qd, kk) / math.sqrt(d)
    i_abs = torch.arange(tq)[:, None] + (tk - tq)
    j = torch.arange(tk)[None, :]
    mask = (j <= i_abs)
    if window > 0:
        mask = mask & (i_abs - j < window)
    mask = mask[None, None].expand(b, hq, tq, tk).clone()
    if segments is not None:
        seg = torch.tensor(segments, dtype=torch.int64)
        same = seg[:, (tk - tq):, None] == seg[:, None, :]
        mask = mask & same[:, None]
    s = s.masked_fill(~mask, float("-inf"))
    lse = torch.logsumexp(s, dim=-1)
    p = torch.softmax(s, dim=-1)
    o = torch.einsum("bhij,bjhd->bihd", p, vv)
    o.backward(do.double())
    put(c, "q", q); put(c, "k", k); put(c, "v", v); put(c, "dout", do)
    if segments is not None:
        put(c, "segments", torch.tensor(segments, dtype=torch.int64))
    put(c, "out", o); put(c, "lse", lse); put(c, "dq", qd.grad); put(c, "dk", kd.grad); put(c, "dv", vd.grad)


attention_case("attention_gqa_segments", 2, 40, 40, 4, 2, 16, [[0] * 15 + [1] * 18 + [2] * 7, [5] * 40], 0)
attention_case("attention_mqa_long", 1, 150, 150, 3, 1, 32, None, 0)
attention_case("attention_window", 1, 50, 50, 2, 2, 8, None, 9)
attention_case("attention_decode", 1, 5, 37, 4, 1, 16, None, 0)
attention_case("attention_odd_dim_packed", 1, 90, 90, 6, 2, 12, [[0] * 20 + [1] * 3 + [2] * 50 + [3] * 17], 0)
attention_case("attention_unordered_segments", 1, 30, 30, 2, 1, 8, [[4] * 10 + [1] * 12 + [4] * 8], 5)


# ---------------------------------------------------------------- activations
def unary_case(name, fn, n):
    c = case(name)
    x = f32(n, scale=3.0); dy = f32(n)
    xd = x.double().requires_grad_()
    y = fn(xd)
    y.backward(dy.double())
    put(c, "x", x); put(c, "dy", dy); put(c, "y", y); put(c, "dx", xd.grad)


unary_case("gelu_tanh", lambda x: F.gelu(x, approximate="tanh"), 5000)


def swiglu_case():
    c = case("swiglu")
    g = f32(4000, scale=3.0); u = f32(4000); dy = f32(4000)
    gd = g.double().requires_grad_(); ud = u.double().requires_grad_()
    y = F.silu(gd) * ud
    y.backward(dy.double())
    put(c, "gate", g); put(c, "up", u); put(c, "dy", dy); put(c, "y", y); put(c, "dgate", gd.grad); put(c, "dup", ud.grad)


swiglu_case()


def geglu_case():
    c = case("geglu")
    g = f32(4000, scale=3.0); u = f32(4000); dy = f32(4000)
    gd = g.double().requires_grad_(); ud = u.double().requires_grad_()
    y = F.gelu(gd, approximate="tanh") * ud
    y.backward(dy.double())
    put(c, "gate", g); put(c, "up", u); put(c, "dy", dy); put(c, "y", y); put(c, "dgate", gd.grad); put(c, "dup", ud.grad)


geglu_case()


# ---------------------------------------------------------------- embedding
def embedding_case():
    c = case("embedding")
    table = f32(50, 24); ids = torch.tensor([3, 7, 3, 49, 0, 7, 7, 12], dtype=torch.int64); dy = f32(8, 24)
    td = table.double().requires_grad_()
    y = F.embedding(ids, td)
    y.backward(dy.double())
    put(c, "table", table); put(c, "ids", ids); put(c, "dy", dy); put(c, "y", y); put(c, "dtable", td.grad)


embedding_case()


# ---------------------------------------------------------------- LM head + cross-entropy (mean over non-ignored)
def cross_entropy_case(name, t, cdim, vocab, w_dtype):
    c = case(name)
    h = f32(t, cdim); w = f32(vocab, cdim, scale=0.3).to(w_dtype)
    targets = torch.randint(0, vocab, (t,))
    targets[torch.arange(t) % 7 == 3] = -100
    hd = h.double().requires_grad_(); wd = w.double().requires_grad_()
    loss = F.cross_entropy(hd @ wd.t(), targets, ignore_index=-100, reduction="mean")
    loss.backward()
    put(c, "hidden", h); put(c, "weight", w); put(c, "targets", targets)
    put(c, "loss", loss.reshape(1)); put(c, "dhidden", hd.grad); put(c, "dweight", wd.grad)


cross_entropy_case("cross_entropy_f32", 70, 48, 300, torch.float32)
cross_entropy_case("cross_entropy_bf16", 33, 40, 257, torch.bfloat16)


# ---------------------------------------------------------------- AdamW (torch.optim.AdamW, float32) and clipping
def adamw_case():
    lr, b1, b2, eps, wd, steps = 1e-2, 0.9, 0.999, 1e-8, 0.1, 5
    c = case("adamw", lr=lr, beta1=b1, beta2=b2, eps=eps, weightDecay=wd, steps=steps)
    p0 = f32(1000)
    p = p0.clone().requires_grad_()
    opt = torch.optim.AdamW([p], lr=lr, betas=(b1, b2), eps=eps, weight_decay=wd, foreach=False)
    put(c, "param0", p0)
    for s in range(steps):
        g = f32(1000, scale=0.1 * (s + 1))
        p.grad = g.clone()
        opt.step()
        put(c, f"grad{s}", g); put(c, f"param{s + 1}", p)
        put(c, f"m{s + 1}", opt.state[p]["exp_avg"]); put(c, f"v{s + 1}", opt.state[p]["exp_avg_sq"])


def clip_case():
    c = case("clip", maxNorm=1.0)
    g = f32(3000, scale=0.05)
    p = torch.zeros(3000, requires_grad=True)
    p.grad = g.clone()
    norm = torch.nn.utils.clip_grad_norm_([p], 1.0)
    put(c, "grad", g); put(c, "norm", norm.reshape(1)); put(c, "clipped", p.grad)


adamw_case()
clip_case()


# ---------------------------------------------------------------- bf16 / fp16 rounding
def convert_case():
    c = case("convert")
    x = torch.cat([f32(2000, scale=10.0), f32(100, scale=1e-6), f32(50, scale=1e5),
                   torch.tensor([0.0, -0.0, 1.0 + 2 ** -8, 1.0 + 3 * 2 ** -8, 65504.0, 70000.0, 1e-8, float("inf"), -float("inf")])])
    put(c, "x", x); put(c, "bf16", x.to(torch.bfloat16)); put(c, "f16", x.to(torch.float16))


convert_case()

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
with open(os.path.join(out, "data.bin.tmp"), "wb") as fh:
    fh.write(blob)
with open(os.path.join(out, "index.json.tmp"), "w") as fh:
    json.dump({"torch": torch.__version__, "cases": cases}, fh, indent=1)
os.replace(os.path.join(out, "data.bin.tmp"), os.path.join(out, "data.bin"))
os.replace(os.path.join(out, "index.json.tmp"), os.path.join(out, "index.json"))
print(f"wrote {len(cases)} cases, {len(blob)} bytes to {out}")
