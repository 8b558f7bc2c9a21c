#!/usr/bin/python3
"""Reference cases for the trainer's model engine, computed with PyTorch (1.13, no `transformers` library).

The models are written here from the published Hugging Face architectures:
  * Llama / Mistral: RMSNorm (fp32 variance), rotate_half RoPE (optionally Llama-3.1 "llama3" frequency scaling),
    grouped-query attention (repeat_kv), SwiGLU MLP. Mistral has the same shape as Llama; its sliding window
    (4096) is far longer than these sequences, so it never masks anything here and is not modelled.
  * Qwen2: Llama plus biases on q/k/v projections.
  * Qwen3: Llama plus a per-head RMSNorm of q and k (q_norm, k_norm: weights [head_dim]) before RoPE, head_dim
    independent of hidden_size / heads.
  * Llama 3.2: Llama with tied embeddings and llama3 rope scaling.
  * Phi-3: Llama with the fused qkv_proj [q; k; v] and gate_up_proj [gate; up] (LoRA on the fused matrices) and a
    sliding window (key j visible to query i when i - j < sliding_window, transformers' sliding_window_overlay).
  * Gemma 3 (Gemma3ForCausalLM): RMSNorm x * rstd * (1 + w), embeddings * sqrt(hidden) cast to the weights' dtype,
    q/k norms, scores * query_pre_attn_scalar^-0.5, sandwich norms (post_attention_layernorm on the attention
    output, pre_/post_feedforward_layernorm around the GeGLU MLP, gelu tanh), local layers (every
    sliding_window_pattern-th layer is global) with the sliding window and their own rope base
    (rope_local_base_freq, no scaling), global layers with rope_theta and linear rope scaling, tied head.
  * GPT-2: learned positions, LayerNorm, Conv1D weights stored [in, out], fused c_attn, gelu_new (tanh), tied head.

LoRA follows PEFT: y = base(x) + (dropout(x) @ A^T @ B^T) * (alpha / r)  (alpha / sqrt(r) with rsLoRA).
Dropout is 0 so the reference is deterministic. For GPT-2's Conv1D the adapter has the same [r, in] / [out, r]
shapes as for nn.Linear (PEFT sets fan_in_fan_out for the base weight only).

Loss: Hugging Face convention, labels unshifted: logits[:, :-1] predict labels[:, 1:], -100 ignored, mean over
the counted tokens. Gradient accumulation: the batch is split into `accum` micro-batches along the batch axis,
each micro-batch's mean loss is divided by `accum` and the gradients add up (what the HF Trainer does).
Optimizer: torch.optim.AdamW after clip_grad_norm_ on the LoRA parameters.
Full-parameter training: for a few cases, the gradient of every base weight of the model without adapters.

Everything is computed in float64 from fp32 (or bf16) weights and stored as fp32, so the expectations carry no
PyTorch rounding noise.

usage: torch_ref_model.py --out DIR     (writes DIR/<case>/... ; DIR is created via a temp folder + rename)
"""
import argparse
import json
import math
import os
import shutil
import struct
import sys
import tempfile

import torch

torch.set_default_dtype(torch.float64)

# ---------------------------------------------------------------------------------------------------------
# safetensors writer (the `safetensors` package is not available for this torch)

_ST_DTYPES = {torch.float32: "F32", torch.float64: "F64", torch.bfloat16: "BF16", torch.float16: "F16",
              torch.int64: "I64", torch.int32: "I32"}


def _tensor_bytes(t):
    t = t.detach().contiguous().cpu()
    if t.dtype == torch.bfloat16:
        # numpy has no bf16: reinterpret the bits as int16
        return t.view(torch.int16).numpy().tobytes()
    return t.numpy().tobytes()


def write_safetensors(path, tensors, metadata=None):
    header = {}
    blobs = []
    offset = 0
    for name in sorted(tensors):
        t = tensors[name]
        data = _tensor_bytes(t)
        header[name] = {"dtype": _ST_DTYPES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    if metadata is not None:
        header["__metadata__"] = metadata
    hjson = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hjson += b" " * ((8 - len(hjson) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(hjson)))
        f.write(hjson)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


def write_model_folder(folder, config, weights, dtype, shards=1):
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    stored = {k: v.to(dtype) for k, v in weights.items()}
    if shards == 1:
        write_safetensors(os.path.join(folder, "model.safetensors"), stored, {"format": "pt"})
        return
    names = sorted(stored)
    per = (len(names) + shards - 1) // shards
    weight_map = {}
    total = 0
    for s in range(shards):
        part = names[s * per:(s + 1) * per]
        fname = f"model-{s + 1:05d}-of-{shards:05d}.safetensors"
        write_safetensors(os.path.join(folder, fname), {k: stored[k] for k in part}, {"format": "pt"})
        for k in part:
            weight_map[k] = fname
            total += stored[k].numel() * stored[k].element_size()
    with open(os.path.join(folder, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2)


# ---------------------------------------------------------------------------------------------------------
# model pieces

def rms_norm(x, w, eps, offset=0.0):
    var = x.pow(2).mean(-1, keepdim=True)
    return (w + offset) * (x * torch.rsqrt(var + eps))


def layer_norm(x, w, b, eps):
    return torch.nn.functional.layer_norm(x, (x.shape[-1],), w, b, eps)


def llama3_inv_freq(inv_freq, factor, low, high, old_ctx):
    low_wavelen = old_ctx / low
    high_wavelen = old_ctx / high
    wavelen = 2 * math.pi / inv_freq
    inv_l = torch.where(wavelen > low_wavelen, inv_freq / factor, inv_freq)
    smooth = (old_ctx / wavelen - low) / (high - low)
    smoothed = (1 - smooth) * inv_l / factor + smooth * inv_l
    medium = ~(wavelen < high_wavelen) & ~(wavelen > low_wavelen)
    return torch.where(medium, smoothed, inv_l)


def rope_cos_sin(seq, head_dim, theta, scaling, linear=1.0, ext=None, attention=1.0):
    inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.int64).double() / head_dim))
    inv_freq = inv_freq / linear
    if ext is not None:
        inv_freq = inv_freq / torch.tensor(ext, dtype=torch.float64)
    if scaling is not None:
        inv_freq = llama3_inv_freq(inv_freq, scaling["factor"], scaling["low_freq_factor"],
                                   scaling["high_freq_factor"], scaling["original_max_position_embeddings"])
    pos = torch.arange(seq).double()
    freqs = torch.outer(pos, inv_freq)
    emb = torch.cat([freqs, freqs], dim=-1)
    return emb.cos() * attention, emb.sin() * attention


def longrope_settings(cfg, seq):
    """transformers' _compute_longrope_parameters for Phi-3: short factors up to original_max_position_embeddings, cos
    and sin scaled by sqrt(1 + ln(factor) / ln(original)), factor = max_position_embeddings / original."""
    rs = cfg.get("rope_scaling") or {}
    if rs.get("rope_type", rs.get("type")) != "longrope":
        return None, 1.0
    orig = cfg["original_max_position_embeddings"]
    factor = cfg["max_position_embeddings"] / orig
    attention = math.sqrt(1 + math.log(factor) / math.log(orig)) if factor > 1 else 1.0
    return (rs["short_factor"] if seq <= orig else rs["long_factor"]), attention


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat([-x[..., h:], x[..., :h]], dim=-1)


def attention(q, k, v, n_rep, scale=None, window=None):
    # q [B, H, T, D], k/v [B, KV, T, D]
    k = k.repeat_interleave(n_rep, dim=1)
    v = v.repeat_interleave(n_rep, dim=1)
    d = q.shape[-1]
    t = q.shape[2]
    s = q @ k.transpose(-1, -2) * (scale if scale is not None else 1.0 / math.sqrt(d))
    mask = torch.triu(torch.ones(t, t, dtype=torch.bool), 1)
    if window is not None:
        i = torch.arange(t).unsqueeze(1)
        j = torch.arange(t).unsqueeze(0)
        mask = mask | (i - j >= window)
    s = s.masked_fill(mask, float("-inf"))
    return torch.softmax(s, dim=-1) @ v


class Lora:
    """LoRA parameters of one case, keyed by module path (e.g. model.layers.0.self_attn.q_proj)."""

    def __init__(self, r, alpha, rslora):
        self.r = r
        self.scale = alpha / math.sqrt(r) if rslora else alpha / r
        self.A = {}
        self.B = {}

    def apply(self, path, x, y):
        if path not in self.A:
            return y
        return y + (x @ self.A[path].t() @ self.B[path].t()) * self.scale

    def params(self):
        out = []
        for p in sorted(self.A):
            out += [self.A[p], self.B[p]]
        return out

    def peft_items(self):
        for p in sorted(self.A):
            yield f"base_model.model.{p}.lora_A.weight", self.A[p]
            yield f"base_model.model.{p}.lora_B.weight", self.B[p]


def llama_forward(cfg, W, lora, ids):
    B, T = ids.shape
    H = cfg["num_attention_heads"]
    KV = cfg.get("num_key_value_heads", H)
    D = cfg.get("head_dim") or cfg["hidden_size"] // H
    eps = cfg["rms_norm_eps"]
    theta, scaling = rope_settings(cfg)
    ext, rope_scale = longrope_settings(cfg, T)
    cos, sin = rope_cos_sin(T, D, theta, scaling, ext=ext, attention=rope_scale)
    bias = cfg.get("_qkv_bias", False)
    fused = cfg.get("model_type") == "phi3"
    qk_norm = cfg.get("model_type") == "qwen3"
    window = cfg.get("sliding_window") if cfg.get("model_type") in ("mistral", "phi3") else None
    x = W["model.embed_tokens.weight"][ids]
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}"

        def lin(name, inp, has_bias=False):
            y = inp @ W[f"{p}.{name}.weight"].t()
            if has_bias:
                y = y + W[f"{p}.{name}.bias"]
            return lora.apply(f"{p}.{name}", inp, y)

        h = rms_norm(x, W[f"{p}.input_layernorm.weight"], eps)
        if fused:
            q, k, v = lin("self_attn.qkv_proj", h, bias).split([H * D, KV * D, KV * D], dim=-1)
        else:
            q, k, v = lin("self_attn.q_proj", h, bias), lin("self_attn.k_proj", h, bias), lin("self_attn.v_proj", h, bias)
        q = q.view(B, T, H, D)
        k = k.view(B, T, KV, D)
        if qk_norm:
            q = rms_norm(q, W[f"{p}.self_attn.q_norm.weight"], eps)
            k = rms_norm(k, W[f"{p}.self_attn.k_norm.weight"], eps)
        q = q.transpose(1, 2)
        k = k.transpose(1, 2)
        v = v.view(B, T, KV, D).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        a = attention(q, k, v, H // KV, window=window).transpose(1, 2).reshape(B, T, H * D)
        x = x + lin("self_attn.o_proj", a)
        h = rms_norm(x, W[f"{p}.post_attention_layernorm.weight"], eps)
        if fused:
            g, u = lin("mlp.gate_up_proj", h).chunk(2, dim=-1)
        else:
            g, u = lin("mlp.gate_proj", h), lin("mlp.up_proj", h)
        x = x + lin("mlp.down_proj", torch.nn.functional.silu(g) * u)
    x = rms_norm(x, W["model.norm.weight"], eps)
    head = W["model.embed_tokens.weight"] if cfg.get("tie_word_embeddings") else W["lm_head.weight"]
    return x @ head.t()


def gemma_local_layers(cfg):
    if "layer_types" in cfg:
        return [t == "sliding_attention" for t in cfg["layer_types"]]
    pattern = cfg.get("sliding_window_pattern", 6)
    return [(i + 1) % pattern != 0 for i in range(cfg["num_hidden_layers"])]


def gemma3_forward(cfg, W, lora, ids):
    B, T = ids.shape
    C = cfg["hidden_size"]
    H = cfg["num_attention_heads"]
    KV = cfg["num_key_value_heads"]
    D = cfg["head_dim"]
    eps = cfg["rms_norm_eps"]
    rs = cfg.get("rope_scaling") or {}
    linear = rs.get("factor", 1.0) if rs.get("rope_type", rs.get("type")) == "linear" else 1.0
    rope_global = rope_cos_sin(T, D, cfg["rope_theta"], None, linear)
    rope_local = rope_cos_sin(T, D, cfg["rope_local_base_freq"], None)
    scale = cfg["query_pre_attn_scalar"] ** -0.5
    local = gemma_local_layers(cfg)

    def norm(t, key):
        return rms_norm(t, W[key], eps, offset=1.0)

    # transformers: embed_scale = torch.tensor(hidden ** 0.5) (float32), cast to the embedding weight's dtype
    embed_scale = torch.tensor(C ** 0.5, dtype=torch.float32).to(cfg["_weight_dtype"]).double()
    x = W["model.embed_tokens.weight"][ids] * embed_scale
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}"

        def lin(name, inp):
            return lora.apply(f"{p}.{name}", inp, inp @ W[f"{p}.{name}.weight"].t())

        cos, sin = rope_local if local[i] else rope_global
        h = norm(x, f"{p}.input_layernorm.weight")
        q = norm(lin("self_attn.q_proj", h).view(B, T, H, D), f"{p}.self_attn.q_norm.weight").transpose(1, 2)
        k = norm(lin("self_attn.k_proj", h).view(B, T, KV, D), f"{p}.self_attn.k_norm.weight").transpose(1, 2)
        v = lin("self_attn.v_proj", h).view(B, T, KV, D).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        a = attention(q, k, v, H // KV, scale=scale, window=cfg["sliding_window"] if local[i] else None)
        a = a.transpose(1, 2).reshape(B, T, H * D)
        x = x + norm(lin("self_attn.o_proj", a), f"{p}.post_attention_layernorm.weight")
        h = norm(x, f"{p}.pre_feedforward_layernorm.weight")
        m = lin("mlp.down_proj", gelu_new(lin("mlp.gate_proj", h)) * lin("mlp.up_proj", h))
        x = x + norm(m, f"{p}.post_feedforward_layernorm.weight")
    x = norm(x, "model.norm.weight")
    return x @ W["model.embed_tokens.weight"].t()


def gelu_new(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


def gpt2_forward(cfg, W, lora, ids):
    B, T = ids.shape
    C = cfg["n_embd"]
    H = cfg["n_head"]
    D = C // H
    eps = cfg["layer_norm_epsilon"]
    x = W["wte.weight"][ids] + W["wpe.weight"][torch.arange(T)]
    for i in range(cfg["n_layer"]):
        p = f"h.{i}"

        def conv(name, inp):
            y = inp @ W[f"{p}.{name}.weight"] + W[f"{p}.{name}.bias"]
            return lora.apply(f"transformer.{p}.{name}", inp, y)

        h = layer_norm(x, W[f"{p}.ln_1.weight"], W[f"{p}.ln_1.bias"], eps)
        qkv = conv("attn.c_attn", h)
        q, k, v = qkv.split(C, dim=-1)
        q = q.view(B, T, H, D).transpose(1, 2)
        k = k.view(B, T, H, D).transpose(1, 2)
        v = v.view(B, T, H, D).transpose(1, 2)
        a = attention(q, k, v, 1).transpose(1, 2).reshape(B, T, C)
        x = x + conv("attn.c_proj", a)
        h = layer_norm(x, W[f"{p}.ln_2.weight"], W[f"{p}.ln_2.bias"], eps)
        x = x + conv("mlp.c_proj", gelu_new(conv("mlp.c_fc", h)))
    x = layer_norm(x, W["ln_f.weight"], W["ln_f.bias"], eps)
    return x @ W["wte.weight"].t()


def rope_settings(cfg):
    if "rope_parameters" in cfg:
        rp = cfg["rope_parameters"]
        theta = rp["rope_theta"]
        scaling = rp if rp.get("rope_type", "default") == "llama3" else None
    else:
        theta = cfg.get("rope_theta", 10000.0)
        rs = cfg.get("rope_scaling")
        scaling = rs if rs and rs.get("rope_type", rs.get("type")) == "llama3" else None
    return theta, scaling


def causal_lm_loss(logits, labels):
    shift_logits = logits[:, :-1, :].reshape(-1, logits.shape[-1])
    shift_labels = labels[:, 1:].reshape(-1)
    return torch.nn.functional.cross_entropy(shift_logits, shift_labels, ignore_index=-100, reduction="mean")


# ---------------------------------------------------------------------------------------------------------
# weights

def rnd(g, *shape, scale=0.08):
    return (torch.randn(*shape, generator=g, dtype=torch.float32) * scale).double()


def llama_weights(cfg, g):
    C = cfg["hidden_size"]
    H = cfg["num_attention_heads"]
    KV = cfg.get("num_key_value_heads", H)
    D = cfg.get("head_dim") or C // H
    I = cfg["intermediate_size"]
    V = cfg["vocab_size"]
    W = {"model.embed_tokens.weight": rnd(g, V, C, scale=0.5), "model.norm.weight": 1 + rnd(g, C, scale=0.1)}
    if not cfg.get("tie_word_embeddings"):
        W["lm_head.weight"] = rnd(g, V, C, scale=0.15)
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}"
        W[f"{p}.input_layernorm.weight"] = 1 + rnd(g, C, scale=0.1)
        W[f"{p}.post_attention_layernorm.weight"] = 1 + rnd(g, C, scale=0.1)
        W[f"{p}.self_attn.q_proj.weight"] = rnd(g, H * D, C, scale=0.15)
        W[f"{p}.self_attn.k_proj.weight"] = rnd(g, KV * D, C, scale=0.15)
        W[f"{p}.self_attn.v_proj.weight"] = rnd(g, KV * D, C, scale=0.15)
        W[f"{p}.self_attn.o_proj.weight"] = rnd(g, C, H * D, scale=0.15)
        if cfg.get("_qkv_bias"):
            W[f"{p}.self_attn.q_proj.bias"] = rnd(g, H * D, scale=0.1)
            W[f"{p}.self_attn.k_proj.bias"] = rnd(g, KV * D, scale=0.1)
            W[f"{p}.self_attn.v_proj.bias"] = rnd(g, KV * D, scale=0.1)
        W[f"{p}.mlp.gate_proj.weight"] = rnd(g, I, C, scale=0.15)
        W[f"{p}.mlp.up_proj.weight"] = rnd(g, I, C, scale=0.15)
        W[f"{p}.mlp.down_proj.weight"] = rnd(g, C, I, scale=0.12)
        if cfg.get("model_type") in ("qwen3", "gemma3_text"):
            # Gemma stores norm weights as w - 1 (centred on 0), the others centred on 1
            centre = 0.0 if cfg.get("model_type") == "gemma3_text" else 1.0
            W[f"{p}.self_attn.q_norm.weight"] = centre + rnd(g, D, scale=0.2)
            W[f"{p}.self_attn.k_norm.weight"] = centre + rnd(g, D, scale=0.2)
        if cfg.get("model_type") == "gemma3_text":
            for n in ("input_layernorm", "post_attention_layernorm", "pre_feedforward_layernorm", "post_feedforward_layernorm"):
                W[f"{p}.{n}.weight"] = rnd(g, C, scale=0.1)
        if cfg.get("model_type") == "phi3":
            # the checkpoint holds the fused matrices: [q; k; v] and [gate; up]
            W[f"{p}.self_attn.qkv_proj.weight"] = torch.cat([W.pop(f"{p}.self_attn.{n}_proj.weight") for n in "qkv"])
            W[f"{p}.mlp.gate_up_proj.weight"] = torch.cat([W.pop(f"{p}.mlp.gate_proj.weight"), W.pop(f"{p}.mlp.up_proj.weight")])
    if cfg.get("model_type") == "gemma3_text":
        W["model.norm.weight"] = rnd(g, C, scale=0.1)
    return W


def gpt2_weights(cfg, g):
    C = cfg["n_embd"]
    V = cfg["vocab_size"]
    W = {"wte.weight": rnd(g, V, C, scale=0.5), "wpe.weight": rnd(g, cfg["n_positions"], C, scale=0.2),
         "ln_f.weight": 1 + rnd(g, C, scale=0.1), "ln_f.bias": rnd(g, C, scale=0.05)}
    for i in range(cfg["n_layer"]):
        p = f"h.{i}"
        for ln in ("ln_1", "ln_2"):
            W[f"{p}.{ln}.weight"] = 1 + rnd(g, C, scale=0.1)
            W[f"{p}.{ln}.bias"] = rnd(g, C, scale=0.05)
        for name, din, dout in (("attn.c_attn", C, 3 * C), ("attn.c_proj", C, C), ("mlp.c_fc", C, 4 * C),
                                ("mlp.c_proj", 4 * C, C)):
            W[f"{p}.{name}.weight"] = rnd(g, din, dout, scale=0.15)  # Conv1D: [in, out]
            W[f"{p}.{name}.bias"] = rnd(g, dout, scale=0.05)
    return W


def lora_modules(family, cfg, targets):
    out = []
    if family == "gpt2":
        C = cfg["n_embd"]
        shapes = {"attn.c_attn": (C, 3 * C), "attn.c_proj": (C, C), "mlp.c_fc": (C, 4 * C), "mlp.c_proj": (4 * C, C)}
        for i in range(cfg["n_layer"]):
            for name, (din, dout) in shapes.items():
                if name.split(".")[-1] in targets:
                    out.append((f"transformer.h.{i}.{name}", din, dout))
        return out
    C = cfg["hidden_size"]
    H = cfg["num_attention_heads"]
    KV = cfg.get("num_key_value_heads", H)
    D = cfg.get("head_dim") or C // H
    I = cfg["intermediate_size"]
    if family == "phi3":
        shapes = {"self_attn.qkv_proj": (C, (H + 2 * KV) * D), "self_attn.o_proj": (H * D, C),
                  "mlp.gate_up_proj": (C, 2 * I), "mlp.down_proj": (I, C)}
    else:
        shapes = {"self_attn.q_proj": (C, H * D), "self_attn.k_proj": (C, KV * D), "self_attn.v_proj": (C, KV * D),
                  "self_attn.o_proj": (H * D, C), "mlp.gate_proj": (C, I), "mlp.up_proj": (C, I), "mlp.down_proj": (I, C)}
    for i in range(cfg["num_hidden_layers"]):
        for name, (din, dout) in shapes.items():
            if name.split(".")[-1] in targets:
                out.append((f"model.layers.{i}.{name}", din, dout))
    return out


# ---------------------------------------------------------------------------------------------------------
# cases

LLAMA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]

CASES = [
    # name, family, config, weight dtype, shards, lora targets, r, alpha, rslora
    ("llama_gqa", "llama", {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 64, "num_hidden_layers": 2,
        "num_attention_heads": 4, "num_key_value_heads": 2, "intermediate_size": 96, "vocab_size": 96,
        "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "max_position_embeddings": 128, "tie_word_embeddings": False,
        "hidden_act": "silu", "torch_dtype": "float32"}, torch.float32, 1, LLAMA_TARGETS, 4, 8, False),
    ("llama31_tied_bf16", "llama", {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 64, "num_hidden_layers": 2,
        "num_attention_heads": 4, "num_key_value_heads": 1, "head_dim": 16, "intermediate_size": 128,
        "vocab_size": 80, "rms_norm_eps": 1e-5, "max_position_embeddings": 512, "tie_word_embeddings": True,
        "hidden_act": "silu", "torch_dtype": "bfloat16",
        "rope_parameters": {"rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0, "low_freq_factor": 1.0,
                            "high_freq_factor": 4.0, "original_max_position_embeddings": 64}},
     torch.bfloat16, 1, ["q_proj", "v_proj", "down_proj"], 8, 16, True),
    ("llama31_scaled", "llama", {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 64, "num_hidden_layers": 2,
        "num_attention_heads": 4, "num_key_value_heads": 4, "intermediate_size": 96, "vocab_size": 96,
        "rms_norm_eps": 1e-6, "rope_theta": 500000.0, "max_position_embeddings": 512, "tie_word_embeddings": False,
        "hidden_act": "silu", "torch_dtype": "float32",
        "rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                         "original_max_position_embeddings": 64}}, torch.float32, 1, LLAMA_TARGETS, 4, 8, False),
    ("qwen2_bias_sharded", "qwen2", {
        "architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "hidden_size": 64, "num_hidden_layers": 2,
        "num_attention_heads": 4, "num_key_value_heads": 2, "intermediate_size": 96, "vocab_size": 96,
        "rms_norm_eps": 1e-6, "rope_theta": 1000000.0, "max_position_embeddings": 256, "tie_word_embeddings": True,
        "hidden_act": "silu", "use_sliding_window": False, "torch_dtype": "float32"},
     torch.float32, 3, LLAMA_TARGETS, 4, 8, False),
    ("mistral", "mistral", {
        "architectures": ["MistralForCausalLM"], "model_type": "mistral", "hidden_size": 64, "num_hidden_layers": 2,
        "num_attention_heads": 4, "num_key_value_heads": 2, "intermediate_size": 96, "vocab_size": 96,
        "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "max_position_embeddings": 256, "sliding_window": 4096,
        "tie_word_embeddings": False, "hidden_act": "silu", "torch_dtype": "float32"},
     torch.float32, 1, ["q_proj", "k_proj", "v_proj", "o_proj"], 4, 16, False),
    ("gpt2", "gpt2", {
        "architectures": ["GPT2LMHeadModel"], "model_type": "gpt2", "n_embd": 64, "n_layer": 2, "n_head": 4,
        "n_positions": 64, "n_ctx": 64, "vocab_size": 96, "layer_norm_epsilon": 1e-5,
        "activation_function": "gelu_new", "tie_word_embeddings": True, "torch_dtype": "float32"},
     torch.float32, 1, ["c_attn", "c_proj", "c_fc"], 4, 8, False),
    # the newer families, with odd sizes (heads that do not divide the hidden size, vocabularies and widths not a power of 2)
    ("qwen3", "qwen3", {
        "architectures": ["Qwen3ForCausalLM"], "model_type": "qwen3", "hidden_size": 48, "num_hidden_layers": 2,
        "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 20, "intermediate_size": 88, "vocab_size": 97,
        "rms_norm_eps": 1e-6, "rope_theta": 1000000.0, "max_position_embeddings": 256, "tie_word_embeddings": True,
        "hidden_act": "silu", "attention_bias": False, "use_sliding_window": False, "torch_dtype": "float32"},
     torch.float32, 1, LLAMA_TARGETS, 4, 8, False),
    ("llama32", "llama", {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 40, "num_hidden_layers": 2,
        "num_attention_heads": 5, "num_key_value_heads": 1, "head_dim": 8, "intermediate_size": 72, "vocab_size": 89,
        "rms_norm_eps": 1e-5, "rope_theta": 500000.0, "max_position_embeddings": 1024, "tie_word_embeddings": True,
        "hidden_act": "silu", "torch_dtype": "float32",
        "rope_scaling": {"rope_type": "llama3", "factor": 32.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                         "original_max_position_embeddings": 32}}, torch.float32, 1, LLAMA_TARGETS, 4, 8, False),
    ("gemma3", "gemma3", {
        "architectures": ["Gemma3ForCausalLM"], "model_type": "gemma3_text", "hidden_size": 48, "num_hidden_layers": 3,
        "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16, "intermediate_size": 80, "vocab_size": 91,
        "rms_norm_eps": 1e-6, "rope_theta": 1000000.0, "rope_local_base_freq": 10000.0,
        "rope_scaling": {"rope_type": "linear", "factor": 2.0}, "query_pre_attn_scalar": 24, "sliding_window": 5,
        "sliding_window_pattern": 3, "max_position_embeddings": 256, "tie_word_embeddings": True,
        "hidden_activation": "gelu_pytorch_tanh", "final_logit_softcapping": None, "attn_logit_softcapping": None,
        "attention_bias": False, "torch_dtype": "bfloat16"},
     torch.bfloat16, 1, LLAMA_TARGETS, 4, 8, False),
    ("phi3", "phi3", {
        "architectures": ["Phi3ForCausalLM"], "model_type": "phi3", "hidden_size": 48, "num_hidden_layers": 2,
        "num_attention_heads": 6, "num_key_value_heads": 2, "intermediate_size": 76, "vocab_size": 87,
        "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "max_position_embeddings": 256, "sliding_window": 7,
        "tie_word_embeddings": False, "hidden_act": "silu", "rope_scaling": None, "torch_dtype": "float32"},
     torch.float32, 1, ["qkv_proj", "o_proj", "gate_up_proj", "down_proj"], 4, 8, False),
    ("phi3_longrope", "phi3", {
        "architectures": ["Phi3ForCausalLM"], "model_type": "phi3", "hidden_size": 40, "num_hidden_layers": 2,
        "num_attention_heads": 5, "num_key_value_heads": 5, "intermediate_size": 64, "vocab_size": 83,
        "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "max_position_embeddings": 64,
        "original_max_position_embeddings": 16, "sliding_window": 63, "tie_word_embeddings": False, "hidden_act": "silu",
        "rope_scaling": {"type": "longrope", "short_factor": [1.0, 1.3, 2.1, 3.7], "long_factor": [1.1, 1.9, 4.0, 9.5]},
        "torch_dtype": "float32"},
     torch.float32, 1, ["qkv_proj", "down_proj"], 4, 8, False),
]

FULL_GRAD_CASES = ("llama_gqa", "qwen2_bias_sharded", "gpt2", "qwen3", "gemma3", "phi3")

OPTIM = {"lr": 5e-3, "betas": [0.9, 0.999], "eps": 1e-8, "weight_decay": 0.1, "max_grad_norm": 0.5, "steps": 3,
         "accum": 2}


def build_case(out_dir, name, family, cfg, wdtype, shards, targets, r, alpha, rslora, seed):
    g = torch.Generator().manual_seed(seed)
    model_cfg = dict(cfg)
    fwd_cfg = dict(cfg)
    fwd_cfg["_weight_dtype"] = wdtype
    if family == "qwen2":
        fwd_cfg["_qkv_bias"] = True
    W = gpt2_weights(cfg, g) if family == "gpt2" else llama_weights(fwd_cfg, g)
    # the model sees exactly the stored values (bf16 rounding included)
    W = {k: v.to(wdtype).double() for k, v in W.items()}
    stored = dict(W)
    if family == "gpt2":
        stored = {k: v for k, v in W.items()}  # real GPT-2 checkpoints carry no "transformer." prefix
    case_dir = os.path.join(out_dir, name)
    write_model_folder(os.path.join(case_dir, "model"), model_cfg, stored, wdtype, shards)

    V = cfg["vocab_size"]
    B, T = 4, 12
    ids = torch.randint(0, V, (B, T), generator=g)
    labels = ids.clone()
    labels[0, :3] = -100
    labels[2, 7:] = -100
    labels[3, 5] = -100
    with open(os.path.join(case_dir, "tokens.json"), "w") as f:
        json.dump({"input_ids": ids.tolist(), "labels": labels.tolist()}, f)

    lora = Lora(r, alpha, rslora)
    for path, din, dout in lora_modules(family, cfg, targets):
        lora.A[path] = rnd(g, r, din, scale=0.2).requires_grad_(True)
        lora.B[path] = rnd(g, dout, r, scale=0.2).requires_grad_(True)
    init = {k: v.detach().float() for k, v in lora.peft_items()}
    write_safetensors(os.path.join(case_dir, "lora_init.safetensors"), init, {"format": "pt"})

    forward = {"gpt2": gpt2_forward, "gemma3": gemma3_forward}.get(family, llama_forward)
    logits = forward(fwd_cfg if family != "gpt2" else cfg, W, lora, ids)
    loss = causal_lm_loss(logits, labels)
    loss.backward()
    expected = {"logits": logits.detach().float(), "loss": loss.detach().float().reshape(1)}
    for k, p in lora.peft_items():
        expected["grad." + k] = p.grad.detach().float()
    for p in lora.params():
        p.grad = None

    # full-parameter training: the gradient of every base weight (no adapters), keyed by its checkpoint name
    if name in FULL_GRAD_CASES:
        Wg = {k: v.clone().requires_grad_(True) for k, v in W.items()}
        full_loss = causal_lm_loss(forward(fwd_cfg if family != "gpt2" else cfg, Wg, Lora(r, alpha, rslora), ids), labels)
        full_loss.backward()
        expected["full_loss"] = full_loss.detach().float().reshape(1)
        for k, v in Wg.items():
            expected["full_grad." + k] = v.grad.detach().float()

    # AdamW with clipping and gradient accumulation, from the same init, on the same batch each step
    params = lora.params()
    opt = torch.optim.AdamW(params, lr=OPTIM["lr"], betas=tuple(OPTIM["betas"]), eps=OPTIM["eps"],
                            weight_decay=OPTIM["weight_decay"])
    acc = OPTIM["accum"]
    mb = B // acc
    norms = []
    losses = []
    for _ in range(OPTIM["steps"]):
        opt.zero_grad()
        total = 0.0
        for m in range(acc):
            sl = slice(m * mb, (m + 1) * mb)
            l = causal_lm_loss(forward(fwd_cfg if family != "gpt2" else cfg, W, lora, ids[sl]), labels[sl]) / acc
            l.backward()
            total += l.item()
        losses.append(total)
        norms.append(float(torch.nn.utils.clip_grad_norm_(params, OPTIM["max_grad_norm"])))
        opt.step()
    for k, p in lora.peft_items():
        expected["after_adamw." + k] = p.detach().float()
    expected["adamw_losses"] = torch.tensor(losses, dtype=torch.float32)
    expected["adamw_grad_norms"] = torch.tensor(norms, dtype=torch.float32)
    write_safetensors(os.path.join(case_dir, "expected.safetensors"), expected, {"format": "pt"})

    with open(os.path.join(case_dir, "case.json"), "w") as f:
        json.dump({"family": family, "weight_dtype": str(wdtype).replace("torch.", ""), "shards": shards,
                   "lora": {"r": r, "alpha": alpha, "use_rslora": rslora, "target_modules": targets, "dropout": 0.0},
                   "optim": OPTIM}, f, indent=2)


def publish_dir(out, prefix, fill):
    """Calls fill(folder) on a temporary sibling of OUT, then renames it into place, so a reader never sees half the
    reference data; when another run finished first, its (identical) output is kept."""
    parent = os.path.dirname(os.path.abspath(out))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=prefix, dir=parent)
    try:
        fill(tmp)
        if os.path.exists(out):
            shutil.rmtree(tmp)
        else:
            os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    torch.set_num_threads(1)

    def build_all(folder):
        for i, case in enumerate(CASES):
            build_case(folder, *case, seed=1234 + i)

    publish_dir(args.out, ".torch_ref_model.", build_all)
    print(args.out)


if __name__ == "__main__":
    sys.exit(main())
