#!/usr/bin/env bash
# Installs the Debian packages bulwark needs to build, test and benchmark
# (DESIGN.md §10). Idempotent: silent and quick when everything is present;
# otherwise one `apt-get update` and one `apt-get install` for what is missing.
set -euo pipefail

packages=(
  # toolchain
  g++ cmake ninja-build make pkg-config
  # libraries
  libboost1.81-dev libhiredis-dev libyaml-cpp-dev libsqlite3-dev libssl-dev
  libcli11-dev nlohmann-json3-dev libfmt-dev libgoogle-perftools-dev
  # tests and benchmarks
  libgtest-dev libgmock-dev libbenchmark-dev
  redis-server nginx-light wrk curl procps prometheus valgrind
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "setup: installing ${missing[*]}" >&2
sudo_cmd=()
[ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Debian starts services it installs; the tests and benchmarks run their own
# instances on ports of their choosing, so the system-wide ones are not needed.
for svc in redis-server nginx prometheus; do
  if command -v systemctl >/dev/null 2>&1; then "${sudo_cmd[@]}" systemctl disable --now "$svc" >/dev/null 2>&1 || true; fi
done
