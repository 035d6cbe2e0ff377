#!/usr/bin/env bash
# The README's first command: installs what is missing, builds, starts
# focalmetrics-server on localhost and runs the Python quick-start example
# against it, then stops the server.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install_deps.sh
bash scripts/build.sh
BUILD_DIR=${FM_BUILD_DIR:-build}
PORT=${FM_PORT:-50051}

"$BUILD_DIR/server/focalmetrics-server" --host=127.0.0.1 --port="$PORT" &
server=$!
trap 'kill -TERM $server 2>/dev/null; wait $server 2>/dev/null || true' EXIT
for _ in $(seq 50); do
  if /usr/bin/python3 -c "import grpc,sys; grpc.channel_ready_future(grpc.insecure_channel('127.0.0.1:$PORT')).result(timeout=0.2)" 2>/dev/null; then
    break
  fi
done
echo "== focalmetrics-server is serving on 127.0.0.1:$PORT"
PYTHONPATH=client/python /usr/bin/python3 client/python/examples/quickstart.py "127.0.0.1:$PORT"
