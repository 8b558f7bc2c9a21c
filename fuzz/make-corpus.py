#!/usr/bin/python3
"""Writes fuzz/corpus/TARGET/ seeds from the project's real files (small ones: afl-fuzz mutates best from small seeds).
Run from the repository root with Debian's python (python3-protobuf); the corpus is checked in, this script says where each seed came from."""
import json, os, struct, shutil

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
corpus = os.path.join(root, "fuzz", "corpus")
shared = os.path.join(os.path.dirname(root), "shared", "testdata", "tokenizers")

def put(target, name, data):
    d = os.path.join(corpus, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode("utf-8"))

def read(*p):
    with open(os.path.join(*p), "rb") as f:
        return f.read()

# safetensors: two small tensors in the layout safetensors writes (u64 header length, JSON header, data).
f32 = struct.pack("<6f", 1, -2, 3.5, 0, 1e-3, 7)
bf16 = struct.pack("<4H", 0x3F80, 0xC000, 0x0000, 0x7F80)
header = {"__metadata__": {"format": "pt"},
          "model.embed_tokens.weight": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]},
          "model.norm.weight": {"dtype": "BF16", "shape": [4], "data_offsets": [24, 32]}}
h = json.dumps(header, separators=(",", ":")).encode()
h += b" " * (-len(h) % 8)
put("safetensors", "two-tensors.safetensors", struct.pack("<Q", len(h)) + h + f32 + bf16)
tiny = read(root, "samples", "models", "tiny", "model.safetensors")
n = struct.unpack("<Q", tiny[:8])[0]
put("safetensors", "tiny-header-only.safetensors", tiny[:8 + n])  # offsets beyond the end: a refusal to reach

# tokenizer-json: the sample model's byte-level BPE cut to its first merges (vocab: the bytes and what those merges make).
tok = json.loads(read(root, "samples", "models", "tiny", "tokenizer.json"))
merges = tok["model"]["merges"][:40]
keep = set()
for m in merges:
    a, b = m.split(" ") if isinstance(m, str) else m
    keep.update([a, b, a + b])
vocab = {k: v for k, v in tok["model"]["vocab"].items() if v < 256 or k in keep}
tok["model"]["vocab"] = vocab
tok["model"]["merges"] = merges
tok["added_tokens"] = [t for t in tok.get("added_tokens", [])][:3]
put("tokenizer-json", "tiny-cut.json", json.dumps(tok, ensure_ascii=False))

# chat-template: the shapes people use (ChatML, Llama 3, Gemma), from the real tokenizer configs in shared/.
for name in ["llama3", "gemma3", "qwen3"]:
    cfg = json.loads(read(shared, name, "tokenizer_config.json"))
    t = cfg.get("chat_template")
    if isinstance(t, list): t = t[0]["template"]
    if t: put("chat-template", f"{name}.jinja", t)
put("chat-template", "chatml.jinja",
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}")

# job-spec: the samples as users write them (comments and all).
for name in ["tiny-lora.json", "tiny-dpo.json"]:
    put("job-spec", name, read(root, "samples", "jobs", name))

# hf-config: the sample model's, and the other families' shapes.
put("hf-config", "tiny-llama.json", read(root, "samples", "models", "tiny", "config.json"))
put("hf-config", "qwen2.json", json.dumps({"architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "hidden_size": 64,
    "intermediate_size": 96, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 300,
    "max_position_embeddings": 512, "rms_norm_eps": 1e-6, "rope_theta": 1000000.0, "tie_word_embeddings": True,
    "rope_scaling": None}))
put("hf-config", "gpt2.json", json.dumps({"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2", "n_embd": 48, "n_head": 4,
    "n_layer": 2, "n_positions": 128, "vocab_size": 300, "layer_norm_epsilon": 1e-5}))

# peft-config: what PEFT writes for a LoRA adapter.
put("peft-config", "adapter_config.json", json.dumps({"peft_type": "LORA", "task_type": "CAUSAL_LM", "r": 8, "lora_alpha": 16,
    "lora_dropout": 0.05, "target_modules": ["q_proj", "v_proj"], "bias": "none", "fan_in_fan_out": False, "use_rslora": False,
    "base_model_name_or_path": "tiny", "inference_mode": True}, indent=2))

# dataset-line: one line of each dataset format.
put("dataset-line", "chat.jsonl", read(root, "samples", "data", "train.jsonl").split(b"\n")[0])
put("dataset-line", "preference.jsonl", read(root, "samples", "data", "preferences.train.jsonl").split(b"\n")[0])
put("dataset-line", "prompt-completion.jsonl", '{"prompt": "2+2=", "completion": " 4"}')
put("dataset-line", "text.jsonl", '{"text": "Once upon a time"}')

# trainer-event: one line of each kind, as the trainer writes them.
events = [
    {"v": 1, "seq": 1, "time": "2026-12-07T00:00:00Z", "type": "start", "job": "j", "device": "cpu", "device_name": "cpu", "device_memory_bytes": 1, "compute_capability": None, "threads": 2, "total_steps": 6, "tokens_per_epoch": 100, "resumed_from_step": 0},
    {"v": 1, "seq": 2, "time": "2026-12-07T00:00:01Z", "type": "step", "step": 1, "total_steps": 6, "epoch": 0.1, "loss": 1.5, "lr": 0.001, "grad_norm": "NaN", "tokens_per_s": 900.5, "samples_per_s": 3.5, "elapsed_s": 1.2, "tokens": 1024, "memory": {"rss_bytes": 1, "peak_rss_bytes": 2, "device_allocated_bytes": 0, "device_reserved_bytes": 0, "device_peak_bytes": 0}},
    {"v": 1, "seq": 3, "time": "2026-12-07T00:00:02Z", "type": "checkpoint", "step": 3, "path": "/out/checkpoints/3", "bytes": 4096, "sha256": "ab" * 32},
    {"v": 1, "seq": 4, "time": "2026-12-07T00:00:03Z", "type": "done", "reason": "completed", "step": 6, "adapter_path": "/out/adapter", "elapsed_s": 9.5},
]
for e in events:
    put("trainer-event", e["type"] + ".json", json.dumps(e))

# agent-message: the messages an agent sends with trainer events in them (the proto's python stubs, from
# scripts/grpc-interop/stubs.py, which Debian's protoc generates).
import sys
sys.path.insert(0, os.path.join(root, "scripts", "grpc-interop"))
import stubs  # noqa: E402
pb = stubs.agent_pb2
m = pb.AgentMessage()
step = m.telemetry.events.add(seq=1, job_id="job_1", trainer_seq=2, v=1)
step.time.FromJsonString("2026-12-07T00:00:01Z")
step.step.step, step.step.total_steps, step.step.epoch, step.step.loss = 1, 6, 0.1, 1.5
step.step.tokens_per_s, step.step.elapsed_s, step.step.tokens = 900.5, 1.2, 1024
step.step.memory.rss_bytes, step.step.memory.peak_rss_bytes = 1 << 20, 2 << 20
cp = m.telemetry.events.add(seq=2, job_id="job_1", trainer_seq=3, v=1)
cp.time.FromJsonString("2026-12-07T00:00:02Z")
cp.checkpoint.step, cp.checkpoint.path, cp.checkpoint.bytes, cp.checkpoint.sha256 = 3, "/out/checkpoints/3", 4096, "ab" * 32
done = m.telemetry.events.add(seq=3, job_id="job_1", trainer_seq=4, v=1)
done.time.FromJsonString("2026-12-07T00:00:03Z")
done.done.reason, done.done.step, done.done.elapsed_s = "completed", 6, 9.5
put("agent-message", "telemetry-events.bin", m.SerializeToString())
