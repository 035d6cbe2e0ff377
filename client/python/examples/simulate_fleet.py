#!/usr/bin/python3
"""A simulated fleet of trainers streaming an imbalanced 10-class task into one
focalmetrics run, with a live summary of what the server sees.

Each worker is its own process with its own gRPC stream. The "model" is a
synthetic one whose logits separate the classes better every epoch, so PR-AUC
rises and the losses fall on the dashboard. Stops after --seconds or Ctrl-C.

    PYTHONPATH=client/python /usr/bin/python3 client/python/examples/simulate_fleet.py \\
        --target 127.0.0.1:50051 --workers 4 --seconds 60
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import signal
import sys
import time
from typing import Any, Iterator

import numpy as np

CLASS_SHARES = np.array([0.55, 0.2, 0.1, 0.06, 0.04, 0.02, 0.015, 0.008, 0.005, 0.002])
BATCH = 512
STEPS_PER_EPOCH = 40


def batches(worker: int, stop: Any) -> Iterator[tuple[int, int, np.ndarray, np.ndarray]]:
    """(step, epoch, logits, labels) of one worker, the model improving per epoch."""
    rng = np.random.default_rng(worker)
    classes = len(CLASS_SHARES)
    step = 0
    while not stop.is_set():
        step += 1
        epoch = (step - 1) // STEPS_PER_EPOCH
        labels = rng.choice(classes, size=BATCH, p=CLASS_SHARES / CLASS_SHARES.sum())
        separation = 0.4 + 0.35 * epoch  # better every epoch
        logits = rng.normal(0, 1, (BATCH, classes)).astype(np.float32)
        logits[np.arange(BATCH), labels] += separation
        yield step, epoch, logits, labels


def run_worker(target: str, run: str, worker: int, stop: Any, pace: float) -> None:
    # Each process makes its own channel after the fork/spawn.
    import focalmetrics
    from focalmetrics._proto import pb

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    with focalmetrics.Client(target) as client:
        def requests() -> Iterator[Any]:
            for step, epoch, logits, labels in batches(worker, stop):
                yield pb.ReportRequest(
                    run=run, worker=f"trainer-{worker}", seq=step, step=step, epoch=epoch,
                    batch=client.batch(logits, labels, task="multiclass"),
                    losses=[pb.LossSpec(kind=pb.LOSS_KIND_CROSS_ENTROPY),
                            pb.LossSpec(kind=pb.LOSS_KIND_FOCAL)])
                time.sleep(pace)

        for ack in client.stream_reports(requests(), timeout=24 * 3600):
            if ack.HasField("error"):
                print(f"worker {worker}: batch {ack.seq} rejected: {ack.error.message}",
                      file=sys.stderr)


def summary(client: Any, run: str) -> str:
    metrics = client.metrics(run)
    weights = client.class_weights(run, scheme="inverse_sqrt_frequency")
    losses = "  ".join(f"{l.name} {l.mean:.4f}" for l in metrics.losses)
    ap = metrics.average_precision
    rare = ", ".join(f"{w:.2f}" for w in weights.weights[-3:])
    recommendation = metrics.recommendation
    lines = [
        f"epoch {metrics.epoch}  step {metrics.step}  samples {metrics.samples:,}",
        f"  loss (epoch mean): {losses}",
        f"  PR-AUC macro {ap.macro:.4f}  micro {ap.micro:.4f}  weighted {ap.weighted:.4f}"
        f"{'' if ap.exact else '  (bounded memory)'}",
        f"  class weights (1/sqrt count, the recommended class_alpha), rarest three: {rare}",
        f"  recommended: {recommendation.reason}",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", default="127.0.0.1:50051")
    parser.add_argument("--run", default="demo-imbalanced-10class")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--pace", type=float, default=0.05,
                        help="seconds between a worker's batches")
    parser.add_argument("--metrics-url", default="http://127.0.0.1:9464/metrics")
    parser.add_argument("--prometheus-url", default="")
    args = parser.parse_args()

    import focalmetrics

    context = mp.get_context("spawn")
    stop = context.Event()
    workers = [context.Process(target=run_worker,
                               args=(args.target, args.run, w, stop, args.pace), daemon=True)
               for w in range(args.workers)]
    for process in workers:
        process.start()
    print(f"{args.workers} trainers streaming into run '{args.run}' on {args.target}")
    print(f"  Prometheus metrics: {args.metrics_url}")
    if args.prometheus_url:
        print(f"  Prometheus UI:      {args.prometheus_url}/graph?g0.expr="
              f"focalmetrics_pr_auc%7Brun%3D%22{args.run}%22%7D&g0.tab=0")
    print("  Ctrl-C stops.\n", flush=True)
    deadline = time.monotonic() + args.seconds
    try:
        with focalmetrics.Client(args.target) as client:
            while time.monotonic() < deadline:
                time.sleep(min(3.0, max(0.0, deadline - time.monotonic())))
                try:
                    print(summary(client, args.run), flush=True)
                except focalmetrics.FocalMetricsError as error:
                    print(f"(waiting for the first batches: {error.message})", flush=True)
    except KeyboardInterrupt:
        print("\nstopping", flush=True)
    stop.set()
    for process in workers:
        process.join(timeout=10)
        if process.is_alive():
            process.terminate()
    return 0


if __name__ == "__main__":
    sys.exit(main())
