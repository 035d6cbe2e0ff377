#!/usr/bin/python3
"""Ingest and GetMetrics of a run, side by side with scikit-learn's
average_precision_score on the same data, in one run; prints a Markdown table
for docs/BENCHMARKS.md.

- core: bench/runs_benchmark (RunState on one thread, on the bytes written here);
- over gRPC: a focalmetrics-server on loopback, 4 Python workers streaming;
- scikit-learn 1.2: average_precision_score on the same 10M samples.

    /usr/bin/python3 bench/compare_runs.py [--build build]
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np
from sklearn.metrics import average_precision_score

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "client" / "python"))
sys.path.insert(0, str(REPO / "tests" / "python"))
N = 10_000_000


def grpc_ingest(build: pathlib.Path, scores: np.ndarray, targets: np.ndarray) -> float:
    """Samples per second folded in by 4 streaming workers over loopback."""
    from conftest import RunningServer  # noqa: PLC0415 - test helper, server lifecycle

    import focalmetrics  # noqa: PLC0415
    from focalmetrics._proto import pb  # noqa: PLC0415

    os.environ["FM_BUILD_DIR"] = str(build)
    server = RunningServer()
    batch = 4096
    try:
        with focalmetrics.Client(server.target) as client:
            def worker(w: int) -> None:
                starts = range(w * batch, len(scores), 4 * batch)
                requests = (pb.ReportRequest(
                    run="bench", worker=f"w{w}", seq=i + 1,
                    batch=client.batch(scores[s:s + batch], targets[s:s + batch], task="binary"),
                    losses=[pb.LossSpec(kind=pb.LOSS_KIND_FOCAL)])
                    for i, s in enumerate(starts))
                for ack in client.stream_reports(requests, timeout=600):
                    assert not ack.HasField("error"), ack.error

            start = time.perf_counter()
            threads = [threading.Thread(target=worker, args=(w,)) for w in range(4)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            elapsed = time.perf_counter() - start
            assert client.metrics("bench").samples == len(scores)
    finally:
        server.stop()
    return len(scores) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build", default=str(REPO / "build"))
    args = parser.parse_args()
    build = pathlib.Path(args.build)

    rng = np.random.default_rng(3)
    targets = (rng.random(N) < 0.01).astype(np.float32)
    scores = (rng.normal(0, 1, N) + 2.0 * targets).astype(np.float32)
    with tempfile.TemporaryDirectory() as data_dir:
        scores.tofile(pathlib.Path(data_dir) / "runs_scores.f32")
        targets.tofile(pathlib.Path(data_dir) / "runs_targets.f32")
        out = subprocess.run([str(build / "bench" / "runs_benchmark"), "--benchmark_format=json"],
                             env=dict(os.environ, FM_BENCH_DATA_DIR=data_dir), check=True,
                             capture_output=True, text=True)
    ours = {b["name"]: b for b in json.loads(out.stdout)["benchmarks"]}

    start = time.perf_counter()
    sklearn_ap = average_precision_score(targets, scores)
    sklearn_s = time.perf_counter() - start
    ingest = grpc_ingest(build, scores[:1_000_000], targets[:1_000_000])

    def ms(name: str) -> float:
        return ours[name]["real_time"]

    print(f"10M binary samples, 1% positives (logits N(0,1), positives +2); "
          f"scikit-learn AP = {sklearn_ap:.6f}\n")
    print("| operation | focalmetrics | scikit-learn 1.2 | ratio |")
    print("|---|---:|---:|---:|")
    print(f"| AP of 10M samples, first query (one full sort) | {ms('BM_FirstGetMetrics10M/iterations:2'):.0f} ms "
          f"| {1000 * sklearn_s:.0f} ms | {1000 * sklearn_s / ms('BM_FirstGetMetrics10M/iterations:2'):.1f}x |")
    print(f"| GetMetrics of a 10M-sample run after a new 4096-sample batch (exact) | "
          f"{ms('BM_GetMetrics10M/1'):.0f} ms | {1000 * sklearn_s:.0f} ms (recomputes) | "
          f"{1000 * sklearn_s / ms('BM_GetMetrics10M/1'):.1f}x |")
    print(f"| GetMetrics of a 10M-sample run, bounded memory (64 KiB) | "
          f"{ms('BM_GetMetrics10M/0'):.2f} ms | {1000 * sklearn_s:.0f} ms | "
          f"{1000 * sklearn_s / ms('BM_GetMetrics10M/0'):.0f}x |")
    print(f"\n| ingest | samples/s |\n|---|---:|")
    print(f"| core, exact, batches of 4096 with a focal loss, one thread | "
          f"{ours['BM_IngestExact']['items_per_second'] / 1e6:.1f} M |")
    print(f"| core, bounded memory, same | "
          f"{ours['BM_IngestBoundedMemory']['items_per_second'] / 1e6:.1f} M |")
    print(f"| over gRPC: 4 Python workers streaming float32 batches of 4096 to a local server | "
          f"{ingest / 1e6:.2f} M |")


if __name__ == "__main__":
    main()
