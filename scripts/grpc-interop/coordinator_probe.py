#!/usr/bin/python3
"""Python grpcio against a running coordinator's gRPC endpoint: the standard health service (server and agent
gateway), and Register with a wrong and then the right join token ("join"). Prints one JSON object; the C# test
(tests/FineTuneLab.Coordinator.Tests/AgentGateway/GrpcioInteropTests.cs) asserts on it.

usage: coordinator_probe.py HOST:PORT
"""
import json
import sys

import grpc

import stubs
from stubs import agent_pb2, agent_pb2_grpc, health_pb2, health_pb2_grpc


def main():
    target = sys.argv[1]
    out = {"grpcio_version": grpc.__version__}
    with grpc.insecure_channel(target) as channel:
        grpc.channel_ready_future(channel).result(timeout=10)
        health = health_pb2_grpc.HealthStub(channel)
        for key, service in (("health", ""), ("health_gateway", "ftl.agent.v1.AgentGateway")):
            response = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=10)
            out[key] = health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)
        gateway = agent_pb2_grpc.AgentGatewayStub(channel)
        request = agent_pb2.RegisterRequest(name="grpcio-probe", inventory=agent_pb2.NodeInventory(hostname="probe"))
        try:
            gateway.Register(request, metadata=[("authorization", "Bearer wrong")], timeout=10)
            out["register_bad_token"] = "OK"
        except grpc.RpcError as e:
            out["register_bad_token"] = e.code().name
            out["register_bad_token_details"] = e.details()
        out["register_good_token"] = gateway.Register(request, metadata=[("authorization", "Bearer join")], timeout=10).agent_id
    print(json.dumps(out))


if __name__ == "__main__":
    main()
