#!/usr/bin/env bash
# Installs what the tests and scripts need when it is missing: Debian packages (reference peers and tools)
# and the npm packages of scripts/oracle (Hugging Face's own tokenizers). Idempotent and quiet when all is there.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

apt_packages=(
  python3-torch          # numerical oracle (PyTorch 1.13.1, CPU)
  python3-numpy
  libopenblas0-openmp    # the BLAS PyTorch should use when it is measured as a peer
  python3-grpcio         # gRPC interop peer
  python3-protobuf
  protobuf-compiler-grpc # protoc + grpc_python_plugin, for the interop stubs
  python3-jinja2         # chat-template oracle
  libicu72               # Unicode normalization for the tokenizer's NFC/NFKC normalizers (called directly: the runtime is invariant)
)

missing=()
for p in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "ensure-deps: installing ${missing[*]}" >&2
  sudo_cmd=""; [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ -f "$root/scripts/oracle/package.json" ] && [ ! -d "$root/scripts/oracle/node_modules" ]; then
  echo "ensure-deps: npm ci in scripts/oracle" >&2
  (cd "$root/scripts/oracle" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi
