#!/usr/bin/env bash
# Configures and builds focalmetrics into build/ (Release). Warnings are
# errors (FM_WERROR=ON) unless FM_WERROR=OFF is in the environment.
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD_DIR=${FM_BUILD_DIR:-build}
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DFM_WERROR="${FM_WERROR:-ON}" >/dev/null
cmake --build "$BUILD_DIR" --parallel "$(nproc)"
