#!/usr/bin/env bash
# Installs what focalmetrics needs from Debian 12's packages, and only what is
# missing (so a second run is fast and offline). Run as root.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)

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
  # tests/python/test_deploy.py: manifests parsed in Python
  python3-yaml
)
# tests/python/test_deploy.py renders deploy/k8s with `kubectl kustomize` and
# validates it with Node (tests/deploy). Debian's kubernetes-client and
# nodejs/npm, unless a kubectl or node/npm is already installed from elsewhere
# (e.g. the Google Cloud SDK's kubectl or NodeSource's nodejs, which own the
# same paths and conflict with Debian's packages).
command -v kubectl >/dev/null 2>&1 || PACKAGES+=(kubernetes-client)
command -v node >/dev/null 2>&1 || PACKAGES+=(nodejs)
command -v npm >/dev/null 2>&1 || PACKAGES+=(npm)

missing=()
for package in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$package")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install_deps: all ${#PACKAGES[@]} packages present"
else
  if [ "$(id -u)" -ne 0 ]; then
    echo "install_deps: missing ${missing[*]}; run as root (or with sudo)" >&2
    exit 1
  fi
  echo "install_deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# npm packages of the deploy validation (tests/deploy/package-lock.json, pinned),
# installed only when node_modules is missing or older than the lock file.
DEPLOY_NPM="$ROOT/tests/deploy"
if [ ! -f "$DEPLOY_NPM/node_modules/.package-lock.json" ] ||
  [ "$DEPLOY_NPM/package-lock.json" -nt "$DEPLOY_NPM/node_modules/.package-lock.json" ]; then
  echo "install_deps: npm ci --prefix tests/deploy"
  npm ci --prefix "$DEPLOY_NPM" --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null
else
  echo "install_deps: tests/deploy/node_modules present"
fi
