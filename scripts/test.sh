#!/usr/bin/env bash
# The README's test command: installs what is missing, builds with warnings
# as errors, checks formatting, and runs every test (GoogleTest through
# ctest, then pytest against real servers on loopback).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install_deps.sh
bash scripts/build.sh
bash scripts/check_format.sh

BUILD_DIR=${FM_BUILD_DIR:-build}
echo "== C++ tests (ctest)"
ctest --test-dir "$BUILD_DIR" --output-on-failure --parallel "$(nproc)"
echo "== Python tests (pytest)"
FM_BUILD_DIR="$BUILD_DIR" /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/python
