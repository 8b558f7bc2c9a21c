#!/usr/bin/python3
"""Reference NF4 quantization (QLoRA / bitsandbytes), written from the published algorithm in PyTorch 1.13.

What bitsandbytes' CUDA kernels compute for quantize_4bit(quant_type="nf4", blocksize=64, compress_statistics=True):
  * per block of 64 elements: absmax = max |x| (fp32); each element x * (1 / absmax) is mapped to the NF4 code whose
    decision interval holds it (dQuantizeNF4's thresholds are the midpoints between neighbouring NF4 values; strictly
    greater goes up). Two codes per byte, the first element in the high nibble.
  * double quantization: offset = absmax.mean(); (absmax - offset) quantized blockwise (256 per block) to 8 bits with
    create_dynamic_map(signed=True), each element x * (1 / block absmax) placed by dQuantize's binary search.
  * dequantization: absmax' = dynamic[code] * nested_absmax[block] + offset; w = NF4[code] * absmax'[block].

usage: nf4_ref.py --out DIR   (writes DIR/cases.safetensors, via a temp file + rename)
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch  # noqa: E402
import torch_ref_model as ref  # noqa: E402

torch.set_default_dtype(torch.float32)  # torch_ref_model switches to float64; bitsandbytes works in float32
ref._ST_DTYPES[torch.uint8] = "U8"

NF4 = torch.tensor([
    -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453,
    -0.28444138169288635, -0.18477343022823334, -0.09105003625154495, 0.0,
    0.07958029955625534, 0.16093020141124725, 0.24611230194568634, 0.33791524171829224,
    0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0], dtype=torch.float32)

# dQuantizeNF4's decision thresholds (float literals in the kernel), in ascending order
NF4_THRESHOLDS = torch.tensor([
    -0.8480964004993439, -0.6106329262256622, -0.4599952697753906, -0.33967943489551544,
    -0.23460740596055984, -0.13791173323988914, -0.045525018125772476, 0.03979014977812767,
    0.1202552504837513, 0.2035212516784668, 0.2920137718319893, 0.3893125355243683,
    0.5016634166240692, 0.6427869200706482, 0.8614784181118011], dtype=torch.float32)


def create_dynamic_map(signed=True, max_exponent_bits=7, total_bits=8):
    data = []
    non_sign_bits = total_bits - 1
    additional_items = 2 ** (non_sign_bits - max_exponent_bits) - 1
    for i in range(max_exponent_bits):
        fraction_items = int(2 ** (i + non_sign_bits - max_exponent_bits) + 1 if signed
                             else 2 ** (i + non_sign_bits - max_exponent_bits + 1) + 1)
        boundaries = torch.linspace(0.1, 1, fraction_items, dtype=torch.float32)
        means = (boundaries[:-1] + boundaries[1:]) / 2.0
        data += ((10 ** (-(max_exponent_bits - 1) + i)) * means).tolist()
        if signed:
            data += (-(10 ** (-(max_exponent_bits - 1) + i)) * means).tolist()
    if additional_items > 0:
        raise ValueError("not used by the signed 8-bit map")
    data.append(0)
    data.append(1.0)
    data += [0] * (2 ** total_bits - len(data))
    data.sort()
    return torch.tensor(data, dtype=torch.float32)


def blocks_of(x, blocksize):
    n = x.numel()
    nb = (n + blocksize - 1) // blocksize
    padded = torch.zeros(nb * blocksize, dtype=torch.float32)
    padded[:n] = x
    return padded.view(nb, blocksize), n


def quantize_nf4_codes(x, blocksize):
    xb, n = blocks_of(x, blocksize)
    absmax = xb.abs().max(dim=1).values
    scaled = xb * (1.0 / absmax)[:, None]
    codes = (scaled.unsqueeze(-1) > NF4_THRESHOLDS).sum(-1).to(torch.uint8).reshape(-1)[:n]
    packed = (codes[0::2] << 4) | codes[1::2]
    return packed, absmax


def dquantize(code, x):
    """bitsandbytes' dQuantize<0>: binary search over the sorted code, vectorized."""
    pivot = torch.full(x.shape, 127, dtype=torch.long)
    upper_pivot = torch.full(x.shape, 255, dtype=torch.long)
    lower_pivot = torch.zeros(x.shape, dtype=torch.long)
    lower = torch.full(x.shape, -1.0)
    upper = torch.full(x.shape, 1.0)
    val = code[pivot]
    i = 64
    while i > 0:
        up = x > val
        lower_pivot = torch.where(up, pivot, lower_pivot)
        lower = torch.where(up, val, lower)
        upper_pivot = torch.where(up, upper_pivot, pivot)
        upper = torch.where(up, upper, val)
        pivot = torch.where(up, pivot + i, pivot - i)
        val = code[pivot]
        i >>= 1
    upper = torch.where(upper_pivot == 255, code[upper_pivot], upper)
    lower = torch.where(lower_pivot == 0, code[lower_pivot], lower)
    up = x > val
    mid_up = (upper + val) * 0.5
    mid_down = (lower + val) * 0.5
    result = torch.where(up, torch.where(x > mid_up, upper_pivot, pivot), torch.where(x < mid_down, lower_pivot, pivot))
    return result.to(torch.uint8)


def quantize_blockwise(x, code, blocksize):
    xb, n = blocks_of(x, blocksize)
    absmax = xb.abs().max(dim=1).values
    scaled = xb * (1.0 / absmax)[:, None]
    return dquantize(code, scaled.reshape(-1))[:n], absmax


def quantize_4bit(x, blocksize=64, nested_blocksize=256):
    packed, absmax = quantize_nf4_codes(x.reshape(-1), blocksize)
    offset = absmax.mean()
    code = create_dynamic_map(signed=True)
    qabsmax, nested_absmax = quantize_blockwise(absmax - offset, code, nested_blocksize)
    return packed, absmax, qabsmax, nested_absmax, code, offset


def dequantize_4bit(packed, qabsmax, nested_absmax, code, offset, n, blocksize=64, nested_blocksize=256):
    idx = torch.arange(qabsmax.numel()) // nested_blocksize
    absmax = code[qabsmax.long()] * nested_absmax[idx]
    absmax += offset
    codes = torch.stack([packed >> 4, packed & 0xF], dim=1).reshape(-1)[:n].long()
    return NF4[codes] * absmax[torch.arange(n) // blocksize], absmax


def cases():
    g = torch.Generator().manual_seed(20231)
    normal = torch.randn(96, 256, generator=g) * 0.05
    heavy = torch.randn(40, 300, generator=g) * 0.02
    heavy[3, 7] = 1.5
    heavy[17, 250] = -2.25
    odd = torch.randn(10, 98, generator=g)  # 980 elements: the last block is partial
    bf16 = (torch.randn(64, 576, generator=g) * 0.1).to(torch.bfloat16).float()
    zeros = torch.randn(8, 64, generator=g)
    zeros[2] = 0.0  # a block of zeros: absmax 0
    big = torch.randn(300, 256, generator=g) * 0.03  # 1200 absmax values: several nested blocks, the last partial
    return {"normal": normal, "heavy": heavy, "odd": odd, "bf16": bf16, "zeros": zeros, "big": big}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    torch.set_num_threads(1)
    os.makedirs(args.out, exist_ok=True)
    out = {"nf4_table": NF4, "dynamic_map": create_dynamic_map(signed=True)}
    for name, x in cases().items():
        packed, absmax, qabsmax, nested_absmax, code, offset = quantize_4bit(x)
        deq, absmax_deq = dequantize_4bit(packed, qabsmax, nested_absmax, code, offset, x.numel())
        out[f"{name}.input"] = x.contiguous()
        out[f"{name}.packed"] = packed
        out[f"{name}.absmax"] = absmax
        out[f"{name}.absmax_codes"] = qabsmax
        out[f"{name}.nested_absmax"] = nested_absmax
        out[f"{name}.offset"] = offset.reshape(1)
        out[f"{name}.absmax_dequantized"] = absmax_deq
        out[f"{name}.dequantized"] = deq.reshape(x.shape)
    ref.write_safetensors(os.path.join(args.out, "cases.safetensors"), out, {"format": "pt"})
    print(args.out)


if __name__ == "__main__":
    sys.exit(main())
