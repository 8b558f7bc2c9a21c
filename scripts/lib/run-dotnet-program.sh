#!/usr/bin/env bash
# Runs the Release build of one of our programs, building it first when any source changed since the last build.
# usage: run-dotnet-program.sh PROJECT_DIR ASSEMBLY_NAME [ARGS...]
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
project_dir=$1; name=$2; shift 2
out="$root/artifacts/bin/$name"
stamp="$out/.build-stamp"

needs_build() {
  [ -f "$stamp" ] || return 0
  [ -n "$(find "$root/trainer" "$root/shared" "$root/agent" "$root/coordinator" "$root/cli" "$root"/Directory.*.props \
      \( -name bin -o -name obj -o -name node_modules \) -prune -o -type f -newer "$stamp" -print -quit 2>/dev/null)" ]
}

if needs_build; then
  mkdir -p "$out"
  # One build at a time: the agent may start trainers while a user starts the coordinator.
  exec 9>"$root/artifacts/.build-lock"
  flock 9
  if needs_build; then
    echo "building $name (Release)..." >&2
    touch "$out/.build-started"
    DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 dotnet build "$root/$project_dir" -c Release -nologo -v q -clp:"ErrorsOnly;NoSummary" \
      -o "$out" >&2
    mv "$out/.build-started" "$stamp"
  fi
  flock -u 9
fi
exec dotnet "$out/$name.dll" "$@"
