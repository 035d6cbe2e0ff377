#!/usr/bin/env bash
# The README's first command: installs what is missing, builds, and runs the
# main job: focalmetrics-server, a real Prometheus scraping it, and a
# simulated fleet of trainers streaming an imbalanced 10-class task, with a
# live summary. Stops after FM_DEMO_SECONDS (default 60) or on Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install_deps.sh
bash scripts/build.sh
BUILD_DIR=${FM_BUILD_DIR:-build}
PORT=${FM_PORT:-50051}
METRICS_PORT=${FM_METRICS_PORT:-9464}
PROMETHEUS_PORT=${FM_PROMETHEUS_PORT:-9090}
SECONDS_TO_RUN=${FM_DEMO_SECONDS:-60}

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
# Ctrl-C reaches the fleet too, which stops its trainers and returns; the
# script then reports and cleans up as after a full run.
trap ':' INT
trap 'exit 143' TERM

# setsid: Ctrl-C goes to the fleet only; the services are stopped by cleanup.
setsid "$BUILD_DIR/server/focalmetrics-server" --host=127.0.0.1 --port="$PORT" \
  --metrics_port="$METRICS_PORT" 2>"$work/server.log" &
pids+=($!)

# Prometheus with this repository's alert rules, scraping every 2 s.
sed -e "s#localhost:9464#127.0.0.1:$METRICS_PORT#" \
    -e "s#scrape_interval: 15s#scrape_interval: 2s#" \
    -e "s#- alerts.yml#- $PWD/deploy/prometheus/alerts.yml#" \
    deploy/prometheus/prometheus.yml >"$work/prometheus.yml"
setsid prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/data" \
  --web.listen-address="127.0.0.1:$PROMETHEUS_PORT" >"$work/prometheus.log" 2>&1 &
pids+=($!)

for _ in $(seq 100); do
  if /usr/bin/python3 -c "import grpc; grpc.channel_ready_future(grpc.insecure_channel('127.0.0.1:$PORT')).result(timeout=0.2)" 2>/dev/null; then
    break
  fi
done
echo "== focalmetrics-server on 127.0.0.1:$PORT, metrics http://127.0.0.1:$METRICS_PORT/metrics"
echo "== Prometheus UI http://127.0.0.1:$PROMETHEUS_PORT (alerts: /alerts)"
PYTHONPATH=client/python /usr/bin/python3 client/python/examples/simulate_fleet.py \
  --target "127.0.0.1:$PORT" --seconds "$SECONDS_TO_RUN" \
  --metrics-url "http://127.0.0.1:$METRICS_PORT/metrics" \
  --prometheus-url "http://127.0.0.1:$PROMETHEUS_PORT"
echo "== done; PR-AUC as Prometheus saw it:"
/usr/bin/python3 - "$PROMETHEUS_PORT" <<'PY' || true
import json, sys, urllib.request
url = f"http://127.0.0.1:{sys.argv[1]}/api/v1/query?query=focalmetrics_pr_auc"
try:
    for r in json.load(urllib.request.urlopen(url, timeout=5))["data"]["result"]:
        print(f"   {r['metric']['average']:<9} {float(r['value'][1]):.4f}")
except OSError as error:
    print(f"   (Prometheus did not answer: {error})")
PY
