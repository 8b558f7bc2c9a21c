#!/usr/bin/python3
"""PyTorch's side of scripts/bench-gemm: a persistent peer so both sides can be timed shape by shape, alternating.

Reads lines NAME,M,N,K,TRANSA,TRANSB,SECONDS,THREADS on stdin; for each prints NAME<TAB>GFLOPS (the best of ~50 ms
batches of torch.matmul(op(A), op(B), out=C) within SECONDS) and flushes. Run it with the BLAS to measure preloaded.
"""
import sys
import time

import torch

for line in sys.stdin:
    line = line.strip()
    if not line:
        continue
    name, m, n, k, ta, tb, seconds, threads = line.split(",")
    m, n, k, seconds = int(m), int(n), int(k), float(seconds)
    torch.set_num_threads(int(threads))
    a = torch.rand(k, m) - 0.5 if ta == "1" else torch.rand(m, k) - 0.5
    b = torch.rand(n, k) - 0.5 if tb == "1" else torch.rand(k, n) - 0.5
    opa = a.t() if ta == "1" else a
    opb = b.t() if tb == "1" else b
    c = torch.empty(m, n)
    torch.matmul(opa, opb, out=c)
    t0 = time.perf_counter()
    torch.matmul(opa, opb, out=c)
    calls = max(1, int(0.05 / max(time.perf_counter() - t0, 1e-6)))
    best, start = float("inf"), time.perf_counter()
    while True:
        t0 = time.perf_counter()
        for _ in range(calls):
            torch.matmul(opa, opb, out=c)
        best = min(best, (time.perf_counter() - t0) / calls)
        if time.perf_counter() - start >= seconds:
            break
    print(f"{name}\t{2.0 * m * n * k / best / 1e9:.1f}", flush=True)
