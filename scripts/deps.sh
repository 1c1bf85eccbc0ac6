#!/usr/bin/env bash
# Installs what building, testing and the demo need, by Debian package name. Idempotent:
# apt-get runs only when something is missing.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git
  g++ clang-14 clang-format-14 clang-tidy-14 libclang-rt-14-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libspdlog-dev libfmt-dev prometheus-cpp-dev nlohmann-json3-dev
  libcpp-httplib-dev libcurl4-openssl-dev zlib1g-dev
  libpq-dev libsqlite3-dev libhiredis-dev postgresql redis-server
  prometheus prometheus-pushgateway python3-prometheus-client python3-aiohttp wrk
  curl
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# clang/clang++ and clang-format/clang-tidy under their plain names.
for tool in clang clang++ clang-format clang-tidy run-clang-tidy; do
  command -v "$tool" >/dev/null || ln -sf "/usr/bin/${tool}-14" "/usr/local/bin/${tool}"
done
