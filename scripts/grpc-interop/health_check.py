#!/usr/bin/python3
"""Calls grpc.health.v1.Health/Check with python grpcio and prints {"status": "SERVING"} (or the error code).

usage: health_check.py HOST:PORT [SERVICE]
"""
import json
import sys

import grpc

import stubs
from stubs import health_pb2, health_pb2_grpc


def main():
    target = sys.argv[1]
    service = sys.argv[2] if len(sys.argv) > 2 else ""
    with grpc.insecure_channel(target) as channel:
        try:
            response = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=service), timeout=10)
            print(json.dumps({"status": health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)}))
        except grpc.RpcError as e:
            print(json.dumps({"error": e.code().name, "details": e.details()}))


if __name__ == "__main__":
    main()
