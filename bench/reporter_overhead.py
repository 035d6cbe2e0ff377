#!/usr/bin/python3
"""The cost of Reporter.log() on the training loop's thread, next to the copy
it cannot avoid (tensor.numpy().tobytes()), on a 256 x 80 float32 batch, with a
real server on loopback consuming the stream. Prints the ratio of medians.

    /usr/bin/python3 bench/reporter_overhead.py [--build build]
"""

from __future__ import annotations

import argparse
import os
import pathlib
import statistics
import sys
import time

import torch

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "client" / "python"))
sys.path.insert(0, str(REPO / "tests" / "python"))


def median_us(fn, repeats: int, pause_s: float) -> float:
    """Median time of fn() called once per `pause_s`, like once per training
    step (a tight loop would only measure the queue filling up)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
        time.sleep(pause_s)
    return 1e6 * statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build", default=str(REPO / "build"))
    parser.add_argument("--repeats", type=int, default=2000)
    parser.add_argument("--pause", type=float, default=0.002,
                        help="seconds between calls (a fast training step)")
    args = parser.parse_args()
    os.environ["FM_BUILD_DIR"] = args.build
    from conftest import RunningServer  # noqa: PLC0415

    import focalmetrics  # noqa: PLC0415

    torch.set_num_threads(1)
    scores = torch.randn(256, 80)
    labels = torch.randint(0, 80, (256,))
    server = RunningServer()
    try:
        with focalmetrics.Reporter(server.target, "overhead", task="multiclass",
                                   durability="ack", queue_size=100_000) as reporter:
            step = iter(range(1, 10**9))
            for _ in range(200):  # warm-up: thread, channel, stream
                reporter.log(next(step), scores, labels)
            reporter.flush(timeout=60)
            copy_us = median_us(lambda: scores.numpy().tobytes(), args.repeats, args.pause)
            log_us = median_us(lambda: reporter.log(next(step), scores, labels), args.repeats,
                               args.pause)
            reporter.flush(timeout=120)
    finally:
        server.stop()
    print(f"| 256x80 float32 batch | tensor.numpy().tobytes() {copy_us:.1f} us | "
          f"Reporter.log() {log_us:.1f} us | ratio {log_us / copy_us:.2f}x |")


if __name__ == "__main__":
    main()
