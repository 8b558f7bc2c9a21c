#!/usr/bin/python3
"""Reference DPO loss, metrics and LoRA gradients, computed with PyTorch 1.13 in float64 on a small Llama-shaped model.

DPO (Rafailov et al. 2023), as TRL's sigmoid loss computes it:
  logp(seq) = sum over answer tokens (labels != -100, HF shift: logits[:, :-1] predict labels[:, 1:]) of log_softmax
  loss      = mean over pairs of -logsigmoid(beta * ((logp_c - ref_c) - (logp_r - ref_r)))
  rewards   = beta * (logp - ref_logp); margin = chosen - rejected; accuracy = mean(chosen > rejected)
The policy is the base model + LoRA (PEFT convention, non-zero A and B so the policy differs from the reference);
the reference is the same base model without the adapter. The model code is scripts/torch_ref_model.py's. The five
pairs run as one right-padded batch of ten rows (the loss is their mean, as one optimizer step over a batch of five
pairs, or micro-batches accumulated, computes it); the script checks each row against the sequence run alone.

usage: torch_ref_dpo.py --out DIR   (DIR/model/, DIR/pairs.json, DIR/lora_init.safetensors, DIR/expected.safetensors,
                                      DIR/case.json; written via a temp folder + rename)
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch  # noqa: E402
import torch_ref_model as ref  # noqa: E402

CONFIG = {
    "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 64, "num_hidden_layers": 2,
    "num_attention_heads": 4, "num_key_value_heads": 2, "intermediate_size": 96, "vocab_size": 96,
    "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "max_position_embeddings": 128, "tie_word_embeddings": False,
    "hidden_act": "silu", "torch_dtype": "float32"}
TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
R, ALPHA, BETA = 4, 8, 0.1
PAD_ID = 0


def seq_logp(logits, labels):
    shift_logits = logits[:, :-1, :]
    shift_labels = labels[:, 1:]
    mask = shift_labels != -100
    logp = torch.log_softmax(shift_logits, dim=-1)
    picked = torch.gather(logp, 2, shift_labels.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    return (picked * mask).sum(-1)


def make_pairs(g, V, n):
    pairs = []
    for i in range(n):
        prompt = torch.randint(0, V, (4 + i % 3,), generator=g).tolist()
        chosen = torch.randint(0, V, (5 + (i * 2) % 4,), generator=g).tolist()
        rejected = torch.randint(0, V, (3 + i % 5,), generator=g).tolist()
        c_ids = prompt + chosen
        r_ids = prompt + rejected
        pairs.append({"chosen_ids": c_ids, "chosen_labels": [-100] * len(prompt) + chosen,
                      "rejected_ids": r_ids, "rejected_labels": [-100] * len(prompt) + rejected})
    return pairs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    torch.set_num_threads(1)

    def build(tmp):
        g = torch.Generator().manual_seed(4321)
        W = ref.llama_weights(CONFIG, g)
        W = {k: v.float().double() for k, v in W.items()}
        ref.write_model_folder(os.path.join(tmp, "model"), CONFIG, W, torch.float32)
        pairs = make_pairs(g, CONFIG["vocab_size"], 5)
        with open(os.path.join(tmp, "pairs.json"), "w") as f:
            json.dump({"pairs": pairs}, f)
        lora = ref.Lora(R, ALPHA, False)
        for path, din, dout in ref.lora_modules("llama", CONFIG, TARGETS):
            lora.A[path] = ref.rnd(g, R, din, scale=0.2).requires_grad_(True)
            lora.B[path] = ref.rnd(g, dout, R, scale=0.2).requires_grad_(True)
        ref.write_safetensors(os.path.join(tmp, "lora_init.safetensors"),
                              {k: v.detach().float() for k, v in lora.peft_items()}, {"format": "pt"})
        base = ref.Lora(R, ALPHA, False)

        # All pairs as one right-padded batch (pad id 0, label -100): rows = every chosen answer, then every rejected
        # one, each row's labels its response mask. Under causal attention right padding changes no real token's
        # logits; the per-sequence forward below checks that.
        width = max(len(p[side + "_ids"]) for p in pairs for side in ("chosen", "rejected"))
        rows = [(p[side + "_ids"], p[side + "_labels"]) for side in ("chosen", "rejected") for p in pairs]
        ids = torch.tensor([r[0] + [PAD_ID] * (width - len(r[0])) for r in rows])
        labels = torch.tensor([r[1] + [-100] * (width - len(r[1])) for r in rows])
        P = len(pairs)
        with torch.no_grad():
            ref_logp = seq_logp(ref.llama_forward(CONFIG, W, base, ids), labels)
        logp = seq_logp(ref.llama_forward(CONFIG, W, lora, ids), labels)
        for i, (row_ids, row_labels) in enumerate(rows):
            with torch.no_grad():
                alone = seq_logp(ref.llama_forward(CONFIG, W, lora, torch.tensor([row_ids])), torch.tensor([row_labels]))[0]
            assert abs(alone.item() - logp[i].item()) < 1e-9, f"row {i}: padded {logp[i].item()} vs alone {alone.item()}"
        z = BETA * ((logp[:P] - ref_logp[:P]) - (logp[P:] - ref_logp[P:]))
        losses = -torch.nn.functional.logsigmoid(z)
        rc = BETA * (logp[:P] - ref_logp[:P]).detach()
        rr = BETA * (logp[P:] - ref_logp[P:]).detach()
        loss = losses.mean()
        loss.backward()
        expected = {
            "loss": loss.detach().float().reshape(1),
            "reward_margin": (rc - rr).mean().float().reshape(1),
            "accuracy": (rc > rr).double().mean().float().reshape(1),
            "chosen_reward": rc.mean().float().reshape(1),
            "rejected_reward": rr.mean().float().reshape(1),
        }
        for k, v in lora.peft_items():
            expected["grad." + k] = v.grad.detach().float()
        ref.write_safetensors(os.path.join(tmp, "expected.safetensors"), expected, {"format": "pt"})
        with open(os.path.join(tmp, "case.json"), "w") as f:
            json.dump({"lora": {"r": R, "alpha": ALPHA, "target_modules": TARGETS}, "beta": BETA}, f, indent=2)

    ref.publish_dir(args.out, ".torch_ref_dpo.", build)
    print(args.out)


if __name__ == "__main__":
    sys.exit(main())
