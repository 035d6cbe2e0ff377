#!/usr/bin/env bash
# Installs what focalmetrics needs from Debian 12's packages, and only what is
# missing (so a second run is fast and offline). Run as root.
set -euo pipefail

PACKAGES=(
  # Build
  g++ cmake ninja-build pkg-config clang-format
  # C++ libraries
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libabsl-dev libhwy-dev libgtest-dev libgmock-dev libbenchmark-dev
  nlohmann-json3-dev prometheus-cpp-dev
  # A real Prometheus (and promtool) for the demo and the end-to-end tests
  prometheus
  # Python client, tests and the reference implementations
  python3-grpcio python3-protobuf python3-numpy python3-torch
  python3-torchvision python3-sklearn python3-pytest python3-matplotlib
  # Installing the client package offline (pip install --no-build-isolation)
  python3-pip python3-setuptools python3-wheel
)

missing=()
for package in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$package")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install_deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "install_deps: missing ${missing[*]}; run as root (or with sudo)" >&2
  exit 1
fi
echo "install_deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
