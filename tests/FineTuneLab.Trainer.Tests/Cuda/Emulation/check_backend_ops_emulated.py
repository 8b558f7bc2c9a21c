#!/usr/bin/python3
"""Runs the CUDA backend's own kernels (elementwise.cu, embedding.cu, rope.cu, dropout.cu, nf4_dequant.cu, nf4_gemm.cu,
compiled for the CPU into LIB with cuda_host_emulation.h) against PyTorch / NumPy references: fill, scale, axpy, bias add and gradient, embedding lookup and gradient, rotary
embedding from tables (forward, inverse, in place), dropout with the shared SplitMix64 mask, NF4 dequantization.
Reuses the launch helpers of check_kernels_emulated.py. Exits non-zero if any case fails.

usage: check_backend_ops_emulated.py LIB"""
import sys

import numpy as np
import torch

import check_kernels_emulated as k
from check_kernels_emulated import I, L, Fl, P, U, buf, check, exact, launch, tens

torch.manual_seed(4321)
MASK64 = (1 << 64) - 1


def test_elementwise():
    n = 1000
    x = torch.randn(n)
    y = np.zeros(n, np.float32)
    launch("fill_f32", (3,), 64, P(y), L(n), Fl(0.375))
    exact("fill_f32", y, torch.full((n,), 0.375))
    launch("scale_f32", (2,), 64, P(y), P(buf(x)), L(n), Fl(-1.5))
    check("scale_f32", y, x * -1.5, 1e-6, 1e-6)
    y0 = torch.randn(n)
    yb = buf(y0)
    launch("axpy_f32", (2,), 64, P(yb), P(buf(x)), L(n), Fl(0.25))
    check("axpy_f32", yb, y0 + 0.25 * x, 1e-6, 1e-6)
    rows, cols = 37, 48
    m = torch.randn(rows, cols)
    bias = torch.randn(cols)
    mb = buf(m)
    launch("add_bias_f32", (4,), 64, P(mb), P(buf(bias)), L(rows), I(cols))
    check("add_bias_f32", mb, m + bias, 1e-6, 1e-6)
    prior = torch.randn(cols)
    db = buf(prior)
    launch("bias_grad_f32", (1,), 32, P(db), P(buf(m)), L(rows), I(cols))  # fewer threads than columns: grid-stride
    check("bias_grad_f32 (accumulates)", db, prior.double() + m.double().sum(0), 1e-5, 1e-5)


def test_embedding():
    vocab, dim = 50, 40
    ids = torch.tensor([3, 0, 49, 3, 17, 3], dtype=torch.int32)
    for dtype in ("f32", "bf16", "f16"):
        table = torch.randn(vocab, dim)
        tq = tens(buf(table, dtype), dtype)
        prior = torch.randn(len(ids), dim)
        out = buf(prior)
        flag = np.zeros(1, np.int32)
        launch(f"embed_lookup_{dtype}", (3,), 64, P(out), P(buf(table, dtype)), P(buf(ids, "i32")), I(len(ids)), I(dim), I(vocab), I(1), P(flag))
        exact(f"embed_lookup_{dtype} accumulate", out, prior + tq[ids.long()])
        exact(f"embed_lookup_{dtype} no error", flag, np.zeros(1))
    out = np.zeros((len(ids), dim), np.float32)
    bad = torch.tensor([1, 2, 50, 4, -1, 0], dtype=torch.int32)
    flag = np.zeros(1, np.int32)
    launch("embed_lookup_f32", (2,), 64, P(out), P(buf(table)), P(buf(bad, "i32")), I(len(bad)), I(dim), I(vocab), I(0), P(flag))
    CASES_OK = int(flag[0]) in (3, 5)  # token 2 or token 4, whichever block got there first
    k.CASES.append("embed_lookup flags an out-of-range id")
    if not CASES_OK:
        k.FAILURES.append(k.CASES[-1])
        print(f"FAIL {k.CASES[-1]}: flag {int(flag[0])}")
    else:
        print(f"ok   {k.CASES[-1]}: token {int(flag[0]) - 1}")
    dout = torch.randn(len(ids), dim)
    prior = torch.randn(vocab, dim)
    dtable = buf(prior)
    flag = np.zeros(1, np.int32)
    launch("embed_backward_f32", (1,), 32, P(dtable), P(buf(dout)), P(buf(ids, "i32")), I(len(ids)), I(dim), I(vocab), P(flag))
    want = prior.double().index_add(0, ids.long(), dout.double())
    check("embed_backward_f32 (repeated ids accumulate)", dtable, want, 1e-6, 1e-6)


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


def test_rope_table():
    tokens, heads, dim, max_pos = 9, 3, 16, 20
    inv = 1.0 / (10000 ** (torch.arange(0, dim, 2).double() / dim))
    freqs = torch.outer(torch.arange(max_pos).double(), inv)
    emb = torch.cat((freqs, freqs), dim=-1)
    cos, sin = emb.cos().float(), emb.sin().float()
    positions = torch.tensor([0, 1, 2, 3, 0, 1, 19, 5, 7], dtype=torch.int32)
    x = torch.randn(tokens, heads, dim, dtype=torch.float64, requires_grad=True)
    c, s = cos.double()[positions.long()][:, None, :], sin.double()[positions.long()][:, None, :]
    y = x * c + rotate_half(x) * s
    out = np.zeros((tokens, heads, dim), np.float32)
    flag = np.zeros(1, np.int32)
    launch("rope_table_f32", (2,), 64, P(out), P(buf(x.float())), P(buf(positions, "i32")), P(buf(cos)), P(buf(sin)),
           I(tokens), I(heads), I(dim), I(max_pos), I(0), P(flag))
    check("rope_table_f32 forward", out, y.detach(), 1e-5, 1e-5)
    dy = torch.randn(tokens, heads, dim, dtype=torch.float64)
    y.backward(dy)
    dyb = buf(dy.float())
    launch("rope_table_f32", (3,), 32, P(dyb), P(dyb), P(buf(positions, "i32")), P(buf(cos)), P(buf(sin)),
           I(tokens), I(heads), I(dim), I(max_pos), I(1), P(flag))
    check("rope_table_f32 inverse = gradient (in place)", dyb, x.grad, 1e-5, 1e-5)
    exact("rope_table_f32 no error", flag, np.zeros(1))


def dropout_keep(seed, index, p):
    """DropoutMask.Keep in Python (SplitMix64 of seed and index, top 24 bits as a uniform)."""
    z = (seed + index * 0x9E3779B97F4A7C15 + 0x9E3779B97F4A7C15) & MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    z ^= z >> 31
    return np.float32(z >> 40) * np.float32(1.0 / (1 << 24)) >= np.float32(p)


def test_dropout_mask():
    n, p, seed = 3001, np.float32(0.3), 0xDEADBEEF12345678
    x = torch.randn(n)
    scale = np.float32(1) / (np.float32(1) - p)
    out = np.zeros(n, np.float32)
    launch("dropout_mask_f32", (4,), 64, P(out), P(buf(x)), L(n), Fl(float(p)), Fl(float(scale)), U(seed))
    keep = np.array([dropout_keep(seed, i, p) for i in range(n)])
    exact("dropout_mask_f32 = DropoutMask.Keep, kept x/(1-p)", out, np.where(keep, x.numpy() * scale, np.float32(0)))


NF4 = np.array([-1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453, -0.28444138169288635,
                -0.18477343022823334, -0.09105003625154495, 0.0, 0.07958029955625534, 0.16093020141124725,
                0.24611230194568634, 0.33791524171829224, 0.44070982933044434, 0.5626170039176941,
                0.7229568362236023, 1.0], np.float32)


def test_nf4():
    n, block = 512, 64
    packed = np.random.default_rng(7).integers(0, 256, n // 2, dtype=np.uint8)
    absmax = (np.random.default_rng(8).random(n // block, dtype=np.float32) * 2).astype(np.float32)
    codes = np.empty(n, np.int64)
    codes[0::2] = packed >> 4   # first element in the high nibble (bitsandbytes)
    codes[1::2] = packed & 0xF
    want = NF4[codes] * np.repeat(absmax, block)
    out = np.zeros(n, np.float32)
    launch("nf4_dequant_f32", (3,), 64, P(out), P(packed), P(absmax), L(n), I(block))
    exact("nf4_dequant_f32", out, want)
    out16 = np.zeros(n, np.int16)
    launch("nf4_dequant_bf16", (2,), 64, P(out16), P(packed), P(absmax), L(n), I(block))
    exact("nf4_dequant_bf16 (round to nearest even)", tens(out16, "bf16"), tens(buf(torch.from_numpy(want), "bf16"), "bf16"))


def nf4_storage(rng, elements, block, nested_block):
    """Random double-quantized NF4 storage, as bitsandbytes lays it out (any byte is a valid code pair)."""
    blocks = (elements + block - 1) // block
    packed = rng.integers(0, 256, (elements + 1) // 2, dtype=np.uint8)
    absmax_codes = rng.integers(0, 256, blocks, dtype=np.uint8)
    nested = (rng.random((blocks + nested_block - 1) // nested_block, dtype=np.float32) + 0.5).astype(np.float32)
    quant_map = np.sort(rng.random(256, dtype=np.float32) * 2 - 1).astype(np.float32)
    offset = np.array([0.0625], np.float32)
    return packed, absmax_codes, nested, quant_map, offset


def nf4_dequant_reference(storage, start, count, block, nested_block):
    """Elements [start, start + count) in fp32, with the float operations in the order the kernels use (no FMA)."""
    packed, absmax_codes, nested, quant_map, offset = storage
    e = np.arange(start, start + count)
    blk = e // block
    absmax = (quant_map[absmax_codes[blk]] * nested[blk // nested_block]).astype(np.float32) + offset[0]
    codes = np.where(e % 2 == 0, packed[e >> 1] >> 4, packed[e >> 1] & 0xF)
    return (NF4[codes] * absmax.astype(np.float32)).astype(np.float32)


def launch_nf4_gemm(name, c, a, storage, elem_offset, w_cols, block, nested_block, m, n, kk, trans_b, alpha, beta):
    packed, absmax_codes, nested, quant_map, offset = storage
    launch(name, ((n + 63) // 64, (m + 63) // 64), 256, P(c), P(a), P(packed), P(absmax_codes), P(nested), P(quant_map), P(offset),
           L(elem_offset), I(w_cols), I(block), I(nested_block), I(m), I(n), I(kk), I(trans_b), Fl(alpha), Fl(beta))


def test_nf4_gemm():
    rng = np.random.default_rng(11)
    block, nested_block = 64, 4  # small nested blocks so that several nested scales are used
    rows_total, cols = 90, 130
    storage = nf4_storage(rng, rows_total * cols, block, nested_block)
    row0, rows = 3, 70  # a row slice, as a fused QKV projection's q rows: starts mid-block and mid-byte pairs
    w = nf4_dequant_reference(storage, row0 * cols, rows * cols, block, nested_block).reshape(rows, cols)

    # Bit-exact dequantization: A = I makes C = op(W) exactly (1 * w + 0 * ... is exact in fp32).
    eye = np.eye(rows, dtype=np.float32)
    c = np.full((rows, cols), np.nan, np.float32)  # beta = 0: C is never read
    launch_nf4_gemm("nf4_gemm_f32", c, eye, storage, row0 * cols, cols, block, nested_block, rows, cols, rows, 0, 1.0, 0.0)
    exact("nf4_gemm_f32 I . W is W bit for bit (double-quantized absmax, row slice)", c, w)

    # Forward: y = alpha * x W^T + beta * y with M rows not a multiple of the tile.
    m = 37
    x = torch.randn(m, cols)
    prior = torch.randn(m, rows)
    c = buf(prior)
    launch_nf4_gemm("nf4_gemm_f32", c, buf(x), storage, row0 * cols, cols, block, nested_block, m, rows, cols, 1, 0.5, 1.0)
    want = 0.5 * x.double() @ torch.from_numpy(w).double().T + prior.double()
    check("nf4_gemm_f32 forward x W^T (alpha 0.5, beta 1)", c, want, 1e-4, 1e-5)

    # Input gradient: dx = dy W.
    dy = torch.randn(m, rows)
    c = np.zeros((m, cols), np.float32)
    launch_nf4_gemm("nf4_gemm_f32", c, buf(dy), storage, row0 * cols, cols, block, nested_block, m, cols, rows, 0, 1.0, 0.0)
    check("nf4_gemm_f32 input gradient dy W", c, dy.double() @ torch.from_numpy(w).double(), 1e-4, 1e-5)

    # bf16 activations, fp32 accumulation.
    xb = tens(buf(x, "bf16"), "bf16")
    c = np.zeros((m, rows), np.float32)
    launch_nf4_gemm("nf4_gemm_bf16", c, buf(x, "bf16"), storage, row0 * cols, cols, block, nested_block, m, rows, cols, 1, 1.0, 0.0)
    check("nf4_gemm_bf16 forward (bf16 A, fp32 accumulation)", c, xb.double() @ torch.from_numpy(w).double().T, 1e-4, 1e-5)


def main():
    test_elementwise()
    test_embedding()
    test_rope_table()
    test_dropout_mask()
    test_nf4()
    test_nf4_gemm()
    print(f"{len(k.CASES) - len(k.FAILURES)} passed, {len(k.FAILURES)} failed")
    return 1 if k.FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
