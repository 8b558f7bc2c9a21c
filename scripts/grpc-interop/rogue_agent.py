#!/usr/bin/python3
"""A rogue agent in python grpcio (a peer we did not write): it holds the join token and tries to change a job that
another agent holds. Prints one JSON object with what each attempt got; the C# test
(tests/FineTuneLab.EndToEnd.Tests/ControlPlane/RogueAgentTests.cs) asserts on it and on the victim job.

usage: rogue_agent.py HOST:PORT JOIN_TOKEN VICTIM_JOB VICTIM_AGENT_ID running|finished

running:  register with the victim agent's id (it is connected: refused, with a guessed agent token too), register as itself, then over its own
          session send a step event (loss 999), telemetry points and a log line for the victim job, a `failed` report
          for it and one idle point (no job: allowed), and wait until all of it is acked; then upload an adapter and a
          checkpoint for the victim job.
finished: register as itself and upload a second adapter for the (finished) victim job.
"""
import hashlib
import json
import queue
import sys
import time

import grpc

import stubs
from stubs import agent_pb2 as pb, agent_pb2_grpc as pb_grpc
from google.protobuf.timestamp_pb2 import Timestamp


def now():
    t = Timestamp()
    t.GetCurrentTime()
    return t


def code(call):
    try:
        call()
        return "OK", ""
    except grpc.RpcError as e:
        return e.code().name, e.details()


def upload(stub, metadata, job, name, kind, data):
    sha = hashlib.sha256(data).hexdigest()
    chunk = pb.ArtifactChunk(upload_id=f"rogue-{job}-{name}-{sha[:8]}", job_id=job, name=name, kind=kind, total_size=len(data),
                             sha256=sha, offset=0, data=data, last=True)
    status, details = code(lambda: stub.UploadArtifact(iter([chunk]), metadata=metadata, timeout=20))
    return {"code": status, "details": details, "sha256": sha}


def main():
    target, join_token, victim_job, victim_agent, phase = sys.argv[1:6]
    out = {}
    channel = grpc.insecure_channel(target)
    grpc.channel_ready_future(channel).result(timeout=10)
    stub = pb_grpc.AgentGatewayStub(channel)
    join = [("authorization", f"Bearer {join_token}")]
    inventory = pb.NodeInventory(hostname="rogue", agent_version="rogue", cpu=pb.CpuInfo(model="rogue", logical_cores=1))

    if phase == "running":
        out["register_as_victim"], out["register_as_victim_details"] = code(
            lambda: stub.Register(pb.RegisterRequest(name="rogue", agent_id=victim_agent, inventory=inventory), metadata=join, timeout=10))
        out["register_as_victim_guessed_token"], _ = code(
            lambda: stub.Register(pb.RegisterRequest(name="rogue", agent_id=victim_agent, inventory=inventory),
                                  metadata=join + [("x-ftl-agent-token", "0" * 64)], timeout=10))
    registered = stub.Register(pb.RegisterRequest(name=f"rogue-{phase}", inventory=inventory), metadata=join, timeout=10)
    out["agent_id"] = registered.agent_id
    me = [("authorization", f"Bearer {registered.agent_token}"), ("x-ftl-agent-id", registered.agent_id)]

    if phase == "running":
        at = now()
        batch = pb.TelemetryBatch()
        batch.points.add(seq=1, at=at, job_id=victim_job, metric="gpu.util", value=99)
        batch.points.add(seq=2, at=at, job_id="", metric="host.cpu.util", value=1)  # an idle node's point: allowed
        batch.points.add(seq=3, at=at, job_id=victim_job, metric="gpu.util", value=98)
        memory = pb.MemoryFigures(rss_bytes=1, peak_rss_bytes=1)
        batch.events.add(seq=4, job_id=victim_job, trainer_seq=999, at=at, v=1, time=at, step=pb.StepEvent(
            step=3, total_steps=3, epoch=1, loss=999, lr=1, grad_norm=1, tokens_per_s=1, samples_per_s=1, elapsed_s=1, tokens=1, memory=memory))
        logs = pb.LogBatch(lines=[pb.LogLine(seq=5, at=at, job_id=victim_job, level=pb.LOG_LEVEL_ERROR, source="agent", text="rogue was here")])
        state = pb.JobStateChange(seq=6, at=at, job_id=victim_job, state=pb.JOB_STATE_FAILED, reason="rogue", exit_code=1,
                                  error_message="rogue says it failed")
        sent = queue.Queue()
        for m in (pb.AgentMessage(hello=pb.SessionHello(agent_id=registered.agent_id, last_seq=0)), pb.AgentMessage(telemetry=batch),
                  pb.AgentMessage(logs=logs), pb.AgentMessage(job_state=state)):
            sent.put(m)

        def outgoing():
            while True:
                m = sent.get()
                if m is None:
                    return
                yield m

        acked = 0
        responses = stub.Session(outgoing(), metadata=me, timeout=30)
        for r in responses:
            if r.WhichOneof("body") == "ack":
                acked = max(acked, r.ack.persisted_seq)
                if acked >= 6:
                    break
        sent.put(None)
        responses.cancel()
        out["acked_seq"] = acked
        out["adapter"] = upload(stub, me, victim_job, "adapter.tar", "adapter", b"rogue adapter " + str(time.time()).encode())
        out["checkpoint"] = upload(stub, me, victim_job, "checkpoint-10.tar", "checkpoint", b"rogue checkpoint")
    else:
        out["adapter"] = upload(stub, me, victim_job, "adapter.tar", "adapter", b"rogue adapter after the end")
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
