#!/usr/bin/python3
"""A python grpcio implementation of ftl.test.v1.Echo (the behaviour echo.proto specifies), the peer our C# client is
tested against and benchmarked with.

usage: echo_server.py [--port N] [--gzip] [--workers N]
Prints "PORT <n>" once listening; prints "CANCELLED <method>" whenever a call is cancelled or its deadline passes while
the handler runs (so a test can see the server noticed). Stops on SIGTERM, SIGINT or when stdin closes.
"""
import argparse
import signal
import sys
import threading
from concurrent import futures

import grpc

import stubs
from stubs import echo_pb2, echo_pb2_grpc

_print_lock = threading.Lock()


def say(line):
    with _print_lock:
        print(line, flush=True)


def pattern(n):
    return bytes(i % 251 for i in range(n))


class Echo(echo_pb2_grpc.EchoServicer):
    def _start(self, context, method):
        """Echoes metadata, and reports a cancellation (client reset or deadline) while the handler runs."""
        done = threading.Event()
        state = {"finished": False}

        def on_done():
            if not state["finished"]:
                say(f"CANCELLED {method}")
            done.set()

        context.add_callback(on_done)
        md = dict((k, v) for k, v in context.invocation_metadata())
        echo = md.get("x-echo")
        trailers = []
        if echo is not None:
            context.send_initial_metadata((("x-echo-response", echo),))
            trailers.append(("x-echo-trailer", echo))
        if "x-echo-bin" in md:
            trailers.append(("x-echo-bin", md["x-echo-bin"]))
        if trailers:
            context.set_trailing_metadata(tuple(trailers))
        return md, done, state

    @staticmethod
    def _delay(request, done):
        if request.delay_ms > 0:
            done.wait(request.delay_ms / 1000.0)

    @staticmethod
    def _fail(request, context):
        if request.fail_with_status != 0:
            code = next(c for c in grpc.StatusCode if c.value[0] == request.fail_with_status)
            context.abort(code, request.fail_message)

    @staticmethod
    def _answer(request, md, index):
        return echo_pb2.EchoResponse(
            text=request.text,
            payload=pattern(request.response_payload_bytes) if request.response_payload_bytes > 0 else request.payload,
            index=index,
            metadata_echo=md.get("x-echo", ""),
            authorization_echo=md.get("authorization", ""))

    def Unary(self, request, context):
        md, done, state = self._start(context, "Unary")
        self._delay(request, done)
        if not context.is_active():
            return echo_pb2.EchoResponse()
        state["finished"] = True
        self._fail(request, context)
        return self._answer(request, md, 0)

    def ServerStream(self, request, context):
        md, done, state = self._start(context, "ServerStream")
        for i in range(max(1, request.repeat)):
            self._delay(request, done)
            if not context.is_active():
                return
            yield self._answer(request, md, i)
        state["finished"] = True
        self._fail(request, context)

    def ClientStream(self, request_iterator, context):
        md, done, state = self._start(context, "ClientStream")
        texts, count, total = [], 0, 0
        for request in request_iterator:
            self._delay(request, done)
            if request.fail_with_status != 0:
                state["finished"] = True
            self._fail(request, context)
            texts.append(request.text)
            total += len(request.payload)
            count += 1
        state["finished"] = True
        return echo_pb2.EchoResponse(text="".join(texts), index=count, total_payload_bytes=total,
                                     metadata_echo=md.get("x-echo", ""),
                                     authorization_echo=md.get("authorization", ""))

    def Duplex(self, request_iterator, context):
        md, done, state = self._start(context, "Duplex")
        for i, request in enumerate(request_iterator):
            self._delay(request, done)
            if request.fail_with_status != 0:
                state["finished"] = True
            self._fail(request, context)
            yield self._answer(request, md, i)
        state["finished"] = True


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--gzip", action="store_true", help="compress responses with gzip")
    parser.add_argument("--workers", type=int, default=32)
    args = parser.parse_args()

    options = [("grpc.max_receive_message_length", 64 * 1024 * 1024),
               ("grpc.max_send_message_length", 64 * 1024 * 1024)]
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=args.workers), options=options,
                         compression=grpc.Compression.Gzip if args.gzip else None)
    echo_pb2_grpc.add_EchoServicer_to_server(Echo(), server)
    port = server.add_insecure_port(f"127.0.0.1:{args.port}")
    server.start()
    say(f"PORT {port}")

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
    stop.wait()
    server.stop(grace=1).wait()


if __name__ == "__main__":
    main()
