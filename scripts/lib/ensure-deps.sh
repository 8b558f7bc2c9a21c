#!/usr/bin/env bash
# Installs what the tests and scripts need when it is missing: Debian packages (reference peers and tools)
# the npm packages of scripts/oracle (Hugging Face's own tokenizers) and the repository's .NET tools (SharpFuzz). Idempotent and quiet when all is there.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

apt_packages=(
  python3-torch          # numerical oracle (PyTorch 1.13.1, CPU)
  python3-numpy
  libopenblas0-openmp    # the BLAS PyTorch should use when it is measured as a peer
  python3-grpcio         # gRPC interop peer
  python3-protobuf
  protobuf-compiler-grpc # protoc + grpc_python_plugin, for the interop stubs
  libprotobuf-dev        # google/protobuf/*.proto (agent.proto imports timestamp.proto) for the dashboard test's fake GPU agent stubs
  python3-jinja2         # chat-template oracle
  chromium               # the dashboard's browser tests (Playwright drives this executable; its own browser download is not used)
  libicu72               # Unicode normalization for the tokenizer's NFC/NFKC normalizers (called directly: the runtime is invariant)
  afl++                  # the fuzzer behind scripts/fuzz (SharpFuzz instruments our assemblies for it)
)

# --- NVIDIA (CUDA headers, NVRTC, NVML) -------------------------------------------------------------------------
# Debian ships these in contrib/non-free. NVRTC is installed as a package (16 MB, it runs without a GPU); the C headers
# come from nvidia-cuda-dev, which as a package would pull 2.8 GB of CUDA libraries, so only its usr/include is unpacked
# (a 774 MB download, ~30 s) into $FTL_NVIDIA_DIR; libnvidia-ml1 is unpacked there too rather than installed, because its
# dependencies (nvidia-alternative, glx-diversions) would divert the system's libGL. Tests read headers and libnvidia-ml
# from there; on a GPU node the driver's own libraries are found first.
nvidia_dir=${FTL_NVIDIA_DIR:-/opt/ftl-nvidia}
apt_packages+=(libnvrtc11.2 gcc g++)

enable_debian_nonfree() {
  local f=/etc/apt/sources.list.d/debian.sources
  [ -f "$f" ] || return 0
  if grep -E '^Components:' "$f" | grep -qvE 'non-free( |$)'; then
    echo "ensure-deps: enabling contrib non-free in $f" >&2
    $sudo_cmd sed -i -E '/^Components:/{/contrib/!s/$/ contrib/;/non-free( |$)/!s/$/ non-free/}' "$f"
    apt_updated=""
  fi
}

unpack_deb_into() { # $1 = package, $2 = destination, $3.. = tar members (wildcards)
  local pkg=$1 dest=$2; shift 2
  local tmp; tmp=$(mktemp -d)
  (cd "$tmp" && apt-get download -qq "$pkg" 2>/dev/null) || { echo "ensure-deps: apt-get download $pkg failed (contrib/non-free enabled?)" >&2; return 1; }
  mkdir -p "$dest"
  dpkg-deb --fsys-tarfile "$tmp"/"$pkg"_*.deb | tar -x -C "$dest" --wildcards "$@"
  rm -rf "$tmp"
}

ensure_nvidia() {
  local stamp="$nvidia_dir/.complete-v1"
  [ -f "$stamp" ] && return 0
  echo "ensure-deps: unpacking CUDA 11.8 headers and libnvidia-ml into $nvidia_dir" >&2
  ensure_apt_updated
  local staging="$nvidia_dir.partial"
  $sudo_cmd rm -rf "$staging"; $sudo_cmd mkdir -p "$staging"; $sudo_cmd chown "$(id -u)" "$staging"
  unpack_deb_into nvidia-cuda-dev "$staging/deb" './usr/include/*'
  unpack_deb_into libnvidia-ml-dev "$staging/deb" './usr/include/nvml.h'
  unpack_deb_into libnvidia-ml1 "$staging/deb" './usr/lib/x86_64-linux-gnu/nvidia/current/*'
  mkdir -p "$staging/include" "$staging/lib"
  cp -a "$staging"/deb/usr/include/. "$staging/include/"
  cp -a "$staging"/deb/usr/lib/x86_64-linux-gnu/nvidia/current/. "$staging/lib/"
  rm -rf "$staging/deb"
  touch "$staging/.complete-v1"
  $sudo_cmd rm -rf "$nvidia_dir"; $sudo_cmd mv "$staging" "$nvidia_dir"
}

sudo_cmd=""; [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
apt_updated=""
ensure_apt_updated() {
  [ -n "$apt_updated" ] && return 0
  $sudo_cmd apt-get update -qq
  apt_updated=1
}
enable_debian_nonfree

missing=()
for p in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "ensure-deps: installing ${missing[*]}" >&2
  ensure_apt_updated
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ -f "$root/scripts/oracle/package.json" ] && [ ! -d "$root/scripts/oracle/node_modules" ]; then
  echo "ensure-deps: npm ci in scripts/oracle" >&2
  (cd "$root/scripts/oracle" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi

ensure_nvidia

# .NET tools of .config/dotnet-tools.json (sharpfuzz, for scripts/fuzz).
if ! (cd "$root" && dotnet tool run sharpfuzz --help >/dev/null 2>&1); then
  echo "ensure-deps: dotnet tool restore" >&2
  (cd "$root" && dotnet tool restore >/dev/null)
fi
