"""Generates the python grpcio stubs for agent.proto (ours) and the standard health.proto (protos/, as grpc publishes
it) with Debian's protoc and grpc_python_plugin.

The stubs land in <repo>/.cache/grpc-interop-stubs/<hash of the .proto files and tool versions>/ (written to a temp
folder, then renamed, so concurrent runs never see half a folder); importing this module puts them on sys.path.
"""
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
HERE = os.path.dirname(os.path.abspath(__file__))
# (source file, path the python module gets). The health proto's python package may not be grpc.health.v1:
# that would shadow grpcio's own `grpc` package. The wire names come from the proto `package`, so they stay standard.
PROTOS = [(os.path.join(REPO, "shared", "FineTuneLab.Shared", "Protos", "ftl", "agent", "v1", "agent.proto"), "ftl/agent/v1/agent.proto"),
          (os.path.join(HERE, "protos", "grpc", "health", "v1", "health.proto"), "ftl_interop_health/health.proto")]
PLUGIN = "/usr/bin/grpc_python_plugin"


def _key():
    h = hashlib.sha256()
    for src, dst in PROTOS:
        with open(src, "rb") as f:
            h.update(dst.encode() + b"\0" + f.read())
    h.update(subprocess.run(["protoc", "--version"], capture_output=True, text=True, check=True).stdout.encode())
    return h.hexdigest()[:16]


def ensure_stubs():
    out = os.path.join(REPO, ".cache", "grpc-interop-stubs", _key())
    if not os.path.isdir(out):
        os.makedirs(os.path.dirname(out), exist_ok=True)
        tmp = tempfile.mkdtemp(prefix="stubs-", dir=os.path.dirname(out))
        src_root = os.path.join(tmp, "protos")
        for src, dst in PROTOS:
            os.makedirs(os.path.dirname(os.path.join(src_root, dst)), exist_ok=True)
            shutil.copyfile(src, os.path.join(src_root, dst))
        cmd = ["protoc", f"-I{src_root}", "-I/usr/include", f"--python_out={tmp}", f"--grpc_python_out={tmp}",
               f"--plugin=protoc-gen-grpc_python={PLUGIN}"] + [dst for _, dst in PROTOS]
        result = subprocess.run(cmd, capture_output=True, text=True)
        shutil.rmtree(src_root, ignore_errors=True)
        if result.returncode != 0:
            shutil.rmtree(tmp, ignore_errors=True)
            sys.exit(f"protoc failed ({' '.join(cmd)}):\n{result.stderr}")
        try:
            os.rename(tmp, out)
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)  # another run won the race; its folder is identical
    if out not in sys.path:
        sys.path.insert(0, out)
    return out


ensure_stubs()

from ftl.agent.v1 import agent_pb2, agent_pb2_grpc  # noqa: E402,F401
from ftl_interop_health import health_pb2, health_pb2_grpc  # noqa: E402,F401
