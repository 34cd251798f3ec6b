#!/usr/bin/env bash
# Installs Lintel's build and test dependencies from Debian 12 packages.
# Idempotent: packages already installed are skipped, and apt-get runs only when
# something is missing. Nothing is downloaded from anywhere but Debian's mirrors.
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache pkg-config
  libboost1.81-dev      # Asio + Beast (networking, HTTP/1.1 parser)
  libssl-dev            # OpenSSL (TLS)
  libyaml-cpp-dev       # YAML manifests
  nlohmann-json3-dev    # JSON decoding (files and API server share one path)
  libspdlog-dev libfmt-dev  # logging, formatting
  libcli11-dev          # command line
  libgtest-dev libgmock-dev libbenchmark-dev  # tests and micro-benchmarks
  curl openssl procps python3  # integration tests and demo
)
# Extra packages for the benchmarks (bench/run.sh); not needed for make test.
if [[ "${1:-}" == "--bench" ]]; then
  packages+=(wrk nginx-light haproxy nghttp2-client)
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if ((${#missing[@]} == 0)); then
  exit 0
fi
echo "setup: installing ${missing[*]}" >&2
SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
