#!/usr/bin/python3
"""python grpcio's side of scripts/bench-grpc: how fast a grpcio client drives an Echo server over one channel.

usage: bench_client.py HOST:PORT SECONDS CONCURRENCY
Prints {"unary_seq": calls/s, "unary_concurrent": calls/s, "stream": messages/s}.
"""
import json
import sys
import threading
import time

import grpc

import stubs
from stubs import echo_pb2, echo_pb2_grpc

Req = echo_pb2.EchoRequest


def unary_sequential(stub, seconds):
    request = Req(text="ping")
    n, end = 0, time.perf_counter() + seconds
    while time.perf_counter() < end:
        stub.Unary(request)
        n += 1
    return n


def unary_concurrent(stub, seconds, concurrency):
    request = Req(text="ping")
    end = time.perf_counter() + seconds
    lock = threading.Lock()
    state = {"n": 0, "in_flight": 0}
    done = threading.Event()

    def launch():
        future = stub.Unary.future(request)
        future.add_done_callback(on_done)

    def on_done(_):
        with lock:
            state["n"] += 1
            again = time.perf_counter() < end
            if not again:
                state["in_flight"] -= 1
                if state["in_flight"] == 0:
                    done.set()
        if again:
            launch()

    state["in_flight"] = concurrency
    for _ in range(concurrency):
        launch()
    done.wait(seconds + 30)
    return state["n"]


def stream(stub, seconds):
    n, end = 0, time.perf_counter() + seconds
    call = stub.ServerStream(Req(text="tick", repeat=100_000_000))
    for _ in call:
        n += 1
        if (n & 255) == 0 and time.perf_counter() >= end:
            break
    call.cancel()
    return n


def main():
    target, seconds, concurrency = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
    with grpc.insecure_channel(target) as channel:
        grpc.channel_ready_future(channel).result(timeout=10)
        stub = echo_pb2_grpc.EchoStub(channel)
        unary_sequential(stub, 0.5)  # warm up
        result = {
            "unary_seq": unary_sequential(stub, seconds) / seconds,
            "unary_concurrent": unary_concurrent(stub, seconds, concurrency) / seconds,
            "stream": stream(stub, seconds) / seconds,
        }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
