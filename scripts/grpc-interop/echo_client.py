#!/usr/bin/python3
"""A python grpcio client that exercises a server implementing ftl.test.v1.Echo (ours, in the C# interop tests) and
prints one JSON object with what it observed; the C# test asserts on it.

usage: echo_client.py HOST:PORT
"""
import json
import sys
import threading
import time

import grpc

import stubs
from stubs import echo_pb2, echo_pb2_grpc

Req = echo_pb2.EchoRequest
NON_ASCII = "échec ✓ 100% 日本\n"


def code_name(e):
    return e.code().name


def main():
    target = sys.argv[1]
    options = [("grpc.max_receive_message_length", 16 * 1024 * 1024)]
    results = {"grpcio_version": grpc.__version__}
    with grpc.insecure_channel(target, options=options) as channel:
        grpc.channel_ready_future(channel).result(timeout=10)
        stub = echo_pb2_grpc.EchoStub(channel)

        r = stub.Unary(Req(text="héllo", payload=b"\x00\x01\xff"), timeout=10)
        results["unary"] = {"text": r.text, "payload": list(r.payload)}

        results["server_stream"] = [m.index for m in stub.ServerStream(Req(text="s", repeat=5), timeout=10)]

        r = stub.ClientStream(iter([Req(text="a", payload=b"12"), Req(text="b", payload=b"345"), Req(text="c")]), timeout=10)
        results["client_stream"] = {"text": r.text, "count": r.index, "bytes": r.total_payload_bytes}

        # Full duplex: the next request is produced only once the previous answer came back.
        answered = threading.Semaphore(0)
        def requests():
            for i in range(5):
                yield Req(text=f"d{i}")
                if not answered.acquire(timeout=10):
                    return
        seen = []
        for m in stub.Duplex(requests(), timeout=10):
            seen.append([m.index, m.text])
            answered.release()
        results["duplex"] = seen

        try:
            stub.Unary(Req(delay_ms=5000), timeout=0.3)
            results["deadline"] = "OK"
        except grpc.RpcError as e:
            results["deadline"] = code_name(e)

        wait = channel.unary_unary("/ftl.test.v1.Probe/Wait", request_serializer=Req.SerializeToString,
                                   response_deserializer=echo_pb2.EchoResponse.FromString)
        future = wait.future(Req(), timeout=10)
        time.sleep(0.3)
        future.cancel()
        try:
            future.result()
            results["cancel"] = "OK"
        except grpc.FutureCancelledError:
            results["cancel"] = "CANCELLED"
        except grpc.RpcError as e:
            results["cancel"] = code_name(e)

        statuses = {}
        for code in range(1, 17):
            try:
                stub.Unary(Req(fail_with_status=code, fail_message=f"{code}: {NON_ASCII}"), timeout=10)
                statuses[code] = ["OK", ""]
            except grpc.RpcError as e:
                statuses[code] = [code_name(e), e.details()]
        results["statuses"] = statuses

        got = []
        try:
            for m in stub.ServerStream(Req(repeat=3, fail_with_status=15, fail_message="after three"), timeout=10):
                got.append(m.index)
            results["stream_status"] = {"received": got, "code": "OK"}
        except grpc.RpcError as e:
            results["stream_status"] = {"received": got, "code": code_name(e), "details": e.details()}

        call = stub.Unary.with_call(Req(), timeout=10, metadata=(
            ("x-echo", "ping-7"), ("x-echo-bin", b"\x00\xfe\xff"), ("authorization", "Bearer tok-123")))
        response, rpc = call
        results["metadata"] = {
            "metadata_echo": response.metadata_echo,
            "authorization_echo": response.authorization_echo,
            "initial": {k: v for k, v in rpc.initial_metadata() if k.startswith("x-")},
            "trailing": {k: (list(v) if isinstance(v, bytes) else v) for k, v in rpc.trailing_metadata() if k.startswith("x-")},
        }

        big = bytes(i % 251 for i in range(3 * 1024 * 1024))
        r = stub.Unary(Req(payload=big), timeout=30)
        results["large"] = {"ok": r.payload == big, "size": len(r.payload)}

        r = stub.Unary(Req(text="zipped", payload=b"z" * 100000), timeout=10, compression=grpc.Compression.Gzip)
        results["gzip"] = {"text": r.text, "size": len(r.payload)}

        try:
            stub.Unary(Req(payload=b"x" * (5 * 1024 * 1024)), timeout=10)
            results["oversized"] = "OK"
        except grpc.RpcError as e:
            results["oversized"] = code_name(e)

        try:
            channel.unary_unary("/ftl.test.v1.Echo/Missing")(b"", timeout=10)
            results["unimplemented"] = "OK"
        except grpc.RpcError as e:
            results["unimplemented"] = code_name(e)

    print(json.dumps(results))


if __name__ == "__main__":
    main()
