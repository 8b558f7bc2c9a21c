#!/usr/bin/python3
"""A test double of the ftl-train process contract (docs/trainer-events.md): `validate --config F` and
`train --config F --out DIR [--resume CKPT]`. Events go to stdout (and DIR/events.jsonl), logs to stderr; checkpoints
land in DIR/checkpoints/<step>/ with a manifest.json; SIGTERM finishes the step, checkpoints and emits done/stopped.
Behaviour knobs come from the environment: FAKE_STEP_SECONDS (default 0.2), FAKE_CRASH_AT (step that raises; the spec's fake_crash_at field overrides it)."""
import datetime, hashlib, json, os, signal, sys, time

def main():
    args = sys.argv[1:]
    cmd = args[0]
    opts = {args[i]: args[i + 1] for i in range(1, len(args) - 1, 2)}
    spec = json.load(open(opts["--config"]))
    if cmd == "validate":
        if "model" not in spec or "data" not in spec:
            print(f'{opts["--config"]}: invalid job spec (1 problem):\n  line 1, column 1: $.model: required', file=sys.stderr)
            return 2
        print(f'{opts["--config"]}: valid (schema version 1, method lora)')
        return 0
    out = opts["--out"]
    os.makedirs(out, exist_ok=True)
    total = int(spec.get("max_steps", 10))
    every = int(spec.get("checkpoint", {}).get("every_steps", 0))
    step_s = float(os.environ.get("FAKE_STEP_SECONDS", "0.2"))
    crash_at = int(spec.get("fake_crash_at", os.environ.get("FAKE_CRASH_AT", "0")))
    for path in (spec["model"]["path"], spec["data"]["train"]):
        if not os.path.exists(path):
            raise FileNotFoundError(path)
    events = open(os.path.join(out, "events.jsonl"), "a")
    state = {"seq": 0, "stop": False}
    start = 0
    if "--resume" in opts:
        start = json.load(open(os.path.join(opts["--resume"], "manifest.json")))["step"]
        state["seq"] = json.load(open(os.path.join(opts["--resume"], "manifest.json")))["seq"]
    signal.signal(signal.SIGTERM, lambda *_: state.update(stop=True))

    def emit(kind, **fields):
        state["seq"] += 1
        line = json.dumps({"v": 1, "seq": state["seq"], "time": datetime.datetime.utcnow().isoformat() + "Z", "type": kind, **fields})
        print(line, flush=True)
        events.write(line + "\n"); events.flush()

    def checkpoint(step):
        d = os.path.join(out, "checkpoints", str(step))
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "adapter_model.safetensors"), "wb") as f:
            f.write(hashlib.sha256(str(step).encode()).digest() * 64)
        manifest = json.dumps({"step": step, "seq": state["seq"] + 1})
        open(os.path.join(d, "manifest.json"), "w").write(manifest)
        emit("checkpoint", step=step, path=d, bytes=2048 + len(manifest), sha256=hashlib.sha256(manifest.encode()).hexdigest())

    t0 = time.time()
    emit("start", job=spec.get("name", "job"), device="cpu", device_name="fake cpu", device_memory_bytes=0, threads=1,
         total_steps=total, tokens_per_epoch=256 * total, resumed_from_step=start)
    print(f"fake trainer: steps {start + 1}..{total}", file=sys.stderr, flush=True)
    for step in range(start + 1, total + 1):
        time.sleep(step_s)
        if step == crash_at:
            try:
                raise RuntimeError(f"fake failure at step {step}")
            except RuntimeError as e:
                import traceback
                emit("error", message=str(e), exception_type="RuntimeError", stack_trace=traceback.format_exc())
                print(f"crashed: {e}", file=sys.stderr, flush=True)
                return 3
        loss = 3.0 / (1 + 0.1 * step)
        emit("step", step=step, total_steps=total, epoch=step / total, loss=loss, lr=2e-4, grad_norm=1.0,
             tokens_per_s=1000.0, samples_per_s=4.0, elapsed_s=time.time() - t0, tokens=256 * step,
             memory={"rss_bytes": 1, "peak_rss_bytes": 1, "device_allocated_bytes": 0, "device_reserved_bytes": 0, "device_peak_bytes": 0})
        print(f"step {step}/{total} loss {loss:.4f}", file=sys.stderr, flush=True)
        if state["stop"]:
            checkpoint(step)
            emit("done", reason="stopped", step=step, adapter_path=None, elapsed_s=time.time() - t0)
            return 0
        if every and step % every == 0:
            checkpoint(step)
    adapter = os.path.join(out, "adapter")
    os.makedirs(adapter, exist_ok=True)
    open(os.path.join(adapter, "adapter_config.json"), "w").write(json.dumps({"r": 8, "peft_type": "LORA"}))
    emit("done", reason="completed", step=total, adapter_path=adapter, elapsed_s=time.time() - t0)
    return 0

sys.exit(main())
