#!/usr/bin/python3
"""The PyTorch peer of `ftl-train bench`: the same presets, trained the same way — LoRA (rank r on q,k,v,o,gate,up,down)
on frozen random fp32 weights, forward + backward + AdamW with global-norm clipping, random tokens as inputs and labels.

Run it with OpenBLAS's OpenMP build preloaded (scripts/bench-train does), which is PyTorch's fastest BLAS here:
  LD_PRELOAD=/usr/lib/x86_64-linux-gnu/openblas-openmp/libblas.so.3 OMP_NUM_THREADS=2 torch_bench_train.py --preset tiny
The script checks which BLAS is really mapped into the process and reports it ("blas").
PyTorch 1.13 has no fused attention on CPU; attention is the HF eager form (matmul, mask, softmax, matmul).
Prints one JSON line with the keys `ftl-train bench --json` uses.
"""
import argparse
import json
import math
import resource
import statistics
import time

import torch
import torch.nn.functional as F

PRESETS = {
    "tiny": dict(hidden=256, layers=4, heads=4, kv_heads=4, intermediate=688, vocab=8192, seq=256, batch=4, rank=8, alpha=16, tied=False),
    "smol135": dict(hidden=576, layers=30, heads=9, kv_heads=3, intermediate=1536, vocab=49152, seq=512, batch=1, rank=16, alpha=32, tied=True),
}


def mapped_blas():
    libs = set()
    with open("/proc/self/maps") as f:
        for line in f:
            if "blas" in line or "lapack" in line or "mkl" in line:
                libs.add(line.split()[-1])
    return sorted(libs)


class LoraLinear(torch.nn.Module):
    def __init__(self, din, dout, r, scale):
        super().__init__()
        bound = 1 / math.sqrt(din)
        self.weight = torch.nn.Parameter(torch.empty(dout, din).uniform_(-bound, bound), requires_grad=False)
        self.lora_A = torch.nn.Parameter(torch.empty(r, din).uniform_(-bound, bound))
        self.lora_B = torch.nn.Parameter(torch.zeros(dout, r))
        self.scale = scale

    def forward(self, x):
        return F.linear(x, self.weight) + F.linear(F.linear(x, self.lora_A), self.lora_B) * self.scale


class RMSNorm(torch.nn.Module):
    def __init__(self, n, eps=1e-5):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.ones(n), requires_grad=False)
        self.eps = eps

    def forward(self, x):
        return self.weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps))


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat([-x[..., h:], x[..., :h]], dim=-1)


class Layer(torch.nn.Module):
    def __init__(self, p, scale):
        super().__init__()
        C, H, KV, I, r = p["hidden"], p["heads"], p["kv_heads"], p["intermediate"], p["rank"]
        D = C // H
        self.H, self.KV, self.D = H, KV, D
        self.ln1, self.ln2 = RMSNorm(C), RMSNorm(C)
        self.q, self.k, self.v = LoraLinear(C, H * D, r, scale), LoraLinear(C, KV * D, r, scale), LoraLinear(C, KV * D, r, scale)
        self.o = LoraLinear(H * D, C, r, scale)
        self.gate, self.up, self.down = LoraLinear(C, I, r, scale), LoraLinear(C, I, r, scale), LoraLinear(I, C, r, scale)

    def forward(self, x, cos, sin, mask):
        B, T, _ = x.shape
        h = self.ln1(x)
        q = self.q(h).view(B, T, self.H, self.D).transpose(1, 2)
        k = self.k(h).view(B, T, self.KV, self.D).transpose(1, 2)
        v = self.v(h).view(B, T, self.KV, self.D).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        rep = self.H // self.KV
        k = k.repeat_interleave(rep, dim=1)
        v = v.repeat_interleave(rep, dim=1)
        s = (q @ k.transpose(-1, -2)) / math.sqrt(self.D) + mask
        a = (torch.softmax(s, dim=-1) @ v).transpose(1, 2).reshape(B, T, -1)
        x = x + self.o(a)
        h = self.ln2(x)
        return x + self.down(F.silu(self.gate(h)) * self.up(h))


class Model(torch.nn.Module):
    def __init__(self, p):
        super().__init__()
        C, V = p["hidden"], p["vocab"]
        scale = p["alpha"] / p["rank"]
        self.embed = torch.nn.Parameter(torch.empty(V, C).uniform_(-1 / math.sqrt(C), 1 / math.sqrt(C)), requires_grad=False)
        self.layers = torch.nn.ModuleList([Layer(p, scale) for _ in range(p["layers"])])
        self.norm = RMSNorm(C)
        self.head = self.embed if p["tied"] else torch.nn.Parameter(torch.empty(V, C).uniform_(-0.05, 0.05), requires_grad=False)
        D = C // p["heads"]
        inv = 1.0 / (10000.0 ** (torch.arange(0, D, 2).float() / D))
        freqs = torch.outer(torch.arange(p["seq"]).float(), inv)
        emb = torch.cat([freqs, freqs], dim=-1)
        self.cos, self.sin = emb.cos(), emb.sin()
        self.mask = torch.full((p["seq"], p["seq"]), float("-inf")).triu(1)

    def forward(self, ids, labels):
        x = self.embed[ids]
        for layer in self.layers:
            x = layer(x, self.cos, self.sin, self.mask)
        logits = F.linear(self.norm(x), self.head)
        return F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), labels[:, 1:].reshape(-1))


def flops(p):
    C, H, KV, I, V, L, r = p["hidden"], p["heads"], p["kv_heads"], p["intermediate"], p["vocab"], p["layers"], p["rank"]
    D = C // H
    n = p["batch"] * p["seq"]
    lin = [(C, H * D), (C, KV * D), (C, KV * D), (H * D, C), (C, I), (C, I), (I, C)]
    frozen = L * sum(a * b for a, b in lin) + V * C
    lora = L * sum(r * (a + b) for a, b in lin)
    attention = L * 7.0 * p["batch"] * H * p["seq"] ** 2 * D
    return 4 * n * frozen + 8 * n * lora + attention


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", required=True, choices=PRESETS)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    p = PRESETS[args.preset]
    model = Model(p)
    params = [q for q in model.parameters() if q.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4, weight_decay=0.0)
    ids = torch.randint(0, p["vocab"], (p["batch"], p["seq"]))

    def step():
        opt.zero_grad(set_to_none=True)
        loss = model(ids, ids)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        return loss.item()

    first = last = 0.0
    for _ in range(args.warmup):
        first = step()
    times = []
    for _ in range(args.steps):
        t0 = time.perf_counter()
        last = step()
        times.append((time.perf_counter() - t0) * 1000)
    median = statistics.median(times)
    n = p["batch"] * p["seq"]
    print(json.dumps({
        "preset": args.preset, "backend": "pytorch-" + torch.__version__, "threads": torch.get_num_threads(), "weights": "fp32",
        "steps": args.steps, "tokens_per_step": n, "tokens_per_second": n / (median / 1000), "step_ms_median": median,
        "step_ms_min": min(times), "step_ms_max": max(times),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "gflops": flops(p) / (median / 1000) / 1e9,
        "trainable_parameters": sum(q.numel() for q in params), "first_loss": first, "last_loss": last, "blas": mapped_blas(),
    }))


if __name__ == "__main__":
    main()
