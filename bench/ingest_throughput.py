#!/usr/bin/python3
"""How fast one server takes in a fleet's batches: focalmetrics-loadgen
(client/cpp) against a server on loopback, exact and bounded-memory runs.
Client and server share the machine, so these are lower bounds.

    /usr/bin/python3 bench/ingest_throughput.py [--build build]
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import subprocess
import sys

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "python"))

# (label, server flags, loadgen flags)
CASES = [
    ("exact, 10 classes, focal", ("--run_memory_budget_mb=2048",),
     ("--classes=10", "--losses=focal")),
    ("exact, 80 classes, focal", ("--run_memory_budget_mb=2048",),
     ("--classes=80", "--losses=focal")),
    ("bounded (64 KiB/class), 10 classes, focal", ("--run_memory_budget_mb=0.001",),
     ("--classes=10", "--losses=focal")),
    ("bounded (64 KiB/class), 80 classes, focal", ("--run_memory_budget_mb=0.001",),
     ("--classes=80", "--losses=focal")),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build", default=str(REPO / "build"))
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--batches", type=int, default=1000, help="per worker")
    args = parser.parse_args()
    os.environ["FM_BUILD_DIR"] = args.build
    from conftest import RunningServer  # noqa: PLC0415

    loadgen = pathlib.Path(args.build) / "client" / "cpp" / "focalmetrics-loadgen"
    print(f"| {args.workers} workers x {args.batches} batches of 256, 100:1 | batches/s | "
          "samples/s | ack p50 ms | ack p99 ms | PR-AUC macro |")
    print("|---|---|---|---|---|---|")
    for label, server_flags, loadgen_flags in CASES:
        server = RunningServer(*server_flags)
        try:
            done = subprocess.run(
                [str(loadgen), f"--target={server.target}", f"--workers={args.workers}",
                 f"--batches={args.batches}", "--batch_size=256", "--imbalance=100",
                 "--json", *loadgen_flags],
                capture_output=True, text=True, check=True, timeout=1800)
        finally:
            server.stop()
        r = json.loads(done.stdout)
        print(f"| {label} | {r['batches_per_second']:.0f} | {r['samples_per_second']:.0f} | "
              f"{r['ack_latency_ms_p50']:.1f} | {r['ack_latency_ms_p99']:.1f} | "
              f"{r['pr_auc_macro']:.4f} |")


if __name__ == "__main__":
    main()
