#!/usr/bin/python3
"""The cost of Reporter.log() on the training loop's thread, next to the copy
it cannot avoid (tensor.numpy().tobytes()), on a 256 x 80 float32 batch, with a
real server on loopback consuming the stream. Prints the ratios of medians:

- like for like (tests/python/log_overhead.py): both calls timed after the
  same gap with a batch in flight, the gap being a 2 ms sleep (a fast step)
  or a real training step (a small MLP's forward, backward and SGD update);
- against the copy timed on an idle process (hot caches, no Reporter).

    /usr/bin/python3 bench/reporter_overhead.py [--build build]
"""

from __future__ import annotations

import argparse
import os
import pathlib
import sys
import time
from typing import Callable

import torch

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "client" / "python"))
sys.path.insert(0, str(REPO / "tests" / "python"))


def training_step(labels: torch.Tensor) -> Callable[[], None]:
    model = torch.nn.Sequential(torch.nn.Linear(256, 512), torch.nn.ReLU(),
                                torch.nn.Linear(512, 80))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    inputs = torch.randn(256, 256)

    def step() -> None:
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(inputs), labels).backward()
        optimizer.step()

    return step


def row(what: str, copy_us: float, log_us: float) -> str:
    return (f"| {what} | {copy_us:.1f} us | {log_us:.1f} us | {log_us / copy_us:.2f}x |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build", default=str(REPO / "build"))
    parser.add_argument("--rounds", type=int, default=1000,
                        help="timed calls of each kind per fast-step measurement")
    parser.add_argument("--training_rounds", type=int, default=200)
    args = parser.parse_args()
    os.environ["FM_BUILD_DIR"] = args.build
    from conftest import RunningServer  # noqa: PLC0415
    from log_overhead import paired_medians_us, quiet_copy_median_us  # noqa: PLC0415

    import focalmetrics  # noqa: PLC0415

    torch.set_num_threads(1)
    scores = torch.randn(256, 80)
    labels = torch.randint(0, 80, (256,))
    fast_step = lambda: time.sleep(0.002)  # noqa: E731
    rows = []
    server = RunningServer()
    try:
        with focalmetrics.Reporter(server.target, "overhead", task="multiclass",
                                   durability="ack", queue_size=100_000) as reporter:
            paired_medians_us(reporter, scores, labels, fast_step, 100)  # warm-up
            copy_us, log_us = paired_medians_us(reporter, scores, labels, fast_step,
                                                args.rounds)
            rows.append(row("like for like, 2 ms step", copy_us, log_us))
            copy_us, log_us = paired_medians_us(reporter, scores, labels,
                                                training_step(labels), args.training_rounds)
            rows.append(row("like for like, MLP training step", copy_us, log_us))
            reporter.flush(timeout=120)
            quiet_us = quiet_copy_median_us(scores, fast_step, args.rounds)
            _, log_us = paired_medians_us(reporter, scores, labels, fast_step, args.rounds)
            rows.append(row("copy on an idle process, 2 ms step", quiet_us, log_us))
            reporter.flush(timeout=120)
    finally:
        server.stop()
    print("| 256x80 float32 batch | tobytes() | Reporter.log() | ratio |")
    print("|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
