#!/usr/bin/python3
"""A stand-in for an ftl-agent on a node with two GPUs, over the real ftl.agent.v1.AgentGateway gRPC protocol (python
grpcio, stubs generated from agent.proto): registers with the join token and a two-GPU inventory, holds the session,
and sends NVML-shaped readings (gpu.util, gpu.mem.used, gpu.temp, gpu.power per GPU) every half second. A job assigned
to it is reported running; its readings then carry the job id, and it relays trainer events for it: a step per tick,
a `warning` (loss_spike) at step 4 and an event type the dashboard does not know (`gpu_throttle`) at step 6.
It never finishes a job; the test ends it. Lets the dashboard's GPU views be checked on machines without a GPU.

usage: fake-gpu-agent.py COORDINATOR_HOST:PORT JOIN_TOKEN NAME
"""
import hashlib
import json
import math
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import time

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", ".."))
PROTO_ROOT = os.path.join(REPO, "shared", "FineTuneLab.Shared", "Protos")
PROTO = "ftl/agent/v1/agent.proto"


def ensure_stubs():
    """Generates the agent.proto stubs with Debian's protoc and grpc_python_plugin into .cache/, keyed by the proto's
    content and protoc's version (written to a temp folder, then renamed: concurrent runs never see half a folder)."""
    with open(os.path.join(PROTO_ROOT, PROTO), "rb") as f:
        key = hashlib.sha256(f.read() + subprocess.run(["protoc", "--version"], capture_output=True, check=True).stdout).hexdigest()[:16]
    out = os.path.join(REPO, ".cache", "fake-gpu-agent-stubs", key)
    if not os.path.isdir(out):
        os.makedirs(os.path.dirname(out), exist_ok=True)
        tmp = tempfile.mkdtemp(prefix="stubs-", dir=os.path.dirname(out))
        cmd = ["protoc", f"-I{PROTO_ROOT}", "-I/usr/include", f"--python_out={tmp}", f"--grpc_python_out={tmp}",
               "--plugin=protoc-gen-grpc_python=/usr/bin/grpc_python_plugin", PROTO]
        result = subprocess.run(cmd, capture_output=True, text=True)
        if result.returncode != 0:
            shutil.rmtree(tmp, ignore_errors=True)
            sys.exit(f"protoc failed ({' '.join(cmd)}):\n{result.stderr}")
        try:
            os.rename(tmp, out)
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)  # another run won the race; its folder is identical
    sys.path.insert(0, out)


ensure_stubs()
import grpc  # noqa: E402
from google.protobuf.timestamp_pb2 import Timestamp  # noqa: E402
from ftl.agent.v1 import agent_pb2, agent_pb2_grpc  # noqa: E402

pb, pb_grpc = agent_pb2, agent_pb2_grpc
GIB = 1 << 30
GPUS = [("NVIDIA A100-SXM4-80GB", 80 * GIB), ("NVIDIA A100-SXM4-80GB", 80 * GIB)]


def now():
    t = Timestamp()
    t.GetCurrentTime()
    return t


def main():
    target, join_token, name = sys.argv[1], sys.argv[2], sys.argv[3]
    channel = grpc.insecure_channel(target)
    stub = pb_grpc.AgentGatewayStub(channel)
    inventory = pb.NodeInventory(hostname=name, provider="fake-gpu", price_per_hour_usd=2.5, agent_version="fake-gpu-agent",
                                 cpu=pb.CpuInfo(model="fake CPU", logical_cores=8, memory_total_bytes=64 * GIB))
    for i, (gpu_name, memory) in enumerate(GPUS):
        inventory.gpus.add(index=i, name=gpu_name, uuid=f"GPU-fake-{i}", memory_total_bytes=memory,
                           compute_capability_major=8, compute_capability_minor=0)
    registered = stub.Register(pb.RegisterRequest(name=name, inventory=inventory), metadata=[("authorization", f"Bearer {join_token}")])
    print(f"registered as {registered.agent_id}", flush=True)

    assigned = queue.Queue()
    seq = [0]

    def next_seq():
        seq[0] += 1
        return seq[0]

    def outgoing():
        yield pb.AgentMessage(hello=pb.SessionHello(agent_id=registered.agent_id, last_seq=0))
        job, started, step, tick = "", 0.0, 0, 0
        while True:
            try:
                job = assigned.get_nowait()
                started, step = time.time(), 0
                yield pb.AgentMessage(job_state=pb.JobStateChange(seq=next_seq(), at=now(), job_id=job, state=pb.JOB_STATE_RUNNING))
                print(f"running {job}", flush=True)
            except queue.Empty:
                pass
            tick += 1
            batch = pb.TelemetryBatch()
            at = now()
            for i, (_, memory) in enumerate(GPUS):
                busy = 1.0 if job else 0.05
                wave = math.sin(tick / 3 + i)
                for metric, value in (("gpu.util", min(100.0, busy * (80 + 15 * wave))), ("gpu.mem.used", memory * (0.2 + busy * (0.55 + 0.1 * wave))),
                                      ("gpu.temp", 40 + busy * (30 + 5 * wave)), ("gpu.power", 60 + busy * (250 + 40 * wave))):
                    batch.points.add(seq=next_seq(), at=at, job_id=job, gpu_index=i, metric=metric, value=value)
            if job:
                step += 1
                events = [("step", {"step": step, "total_steps": 1000, "epoch": step / 1000, "loss": 3.0 / (1 + 0.1 * step), "lr": 2e-4,
                                    "grad_norm": 1.0, "tokens_per_s": 5000.0, "samples_per_s": 20.0, "elapsed_s": time.time() - started, "tokens": 512 * step,
                                    "memory": {"rss_bytes": 1 << 30, "peak_rss_bytes": 1 << 30, "device_allocated_bytes": 0, "device_reserved_bytes": 0, "device_peak_bytes": 0}})]
                if step == 4:
                    events.append(("warning", {"kind": "loss_spike", "message": "loss rose 40% over 3 steps", "step": step}))
                if step == 6:
                    events.append(("gpu_throttle", {"message": "GPU 1 clocks throttled (power cap)", "gpu": 1}))
                for kind, data in events:
                    data = {"v": 1, "seq": step, "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + "Z", "type": kind, **data}
                    batch.events.add(seq=next_seq(), job_id=job, trainer_seq=step, type=kind, json=json.dumps(data), at=at)
            yield pb.AgentMessage(telemetry=batch)
            yield pb.AgentMessage(heartbeat=pb.Heartbeat(at=now(), current_job_id=job, job_uptime_s=(time.time() - started) if job else 0))
            time.sleep(0.5)

    metadata = [("authorization", f"Bearer {registered.agent_token}"), ("x-ftl-agent-id", registered.agent_id)]
    for message in stub.Session(outgoing(), metadata=metadata):
        if message.WhichOneof("body") == "assign":
            assigned.put(message.assign.job_id)


if __name__ == "__main__":
    main()
