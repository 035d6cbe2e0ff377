#!/usr/bin/python3
"""Times the core losses (bench/losses_benchmark) and PyTorch 1.13 /
torchvision on the same data, one thread each, in one run, and prints the
ratios as a Markdown table for docs/BENCHMARKS.md.

    /usr/bin/python3 bench/compare_losses.py [--build build] [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import subprocess
import tempfile
import time
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torchvision.ops import sigmoid_focal_loss

REPO = pathlib.Path(__file__).resolve().parents[1]
BINARY_ELEMENTS = 10_000_000
ROWS, CLASSES = 65536, 80


def best_ms(fn: Callable[[], object], repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1000 * min(times)


def asymmetric(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    # The official ASL formula (gamma_pos 1, gamma_neg 4, clip 0.05), as a mean.
    p = torch.sigmoid(x)
    xs_neg = (1 - p + 0.05).clamp(max=1)
    loss = y * torch.log(p.clamp(min=1e-8)) + (1 - y) * torch.log(xs_neg.clamp(min=1e-8))
    pt = p * y + xs_neg * (1 - y)
    loss = loss * torch.pow(1 - pt, 1 * y + 4 * (1 - y))
    return -loss.mean()


def softmax_focal(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    logp = F.log_softmax(x, dim=1).gather(1, t[:, None])[:, 0]
    return (-(1 - logp.exp()) ** 2 * logp).mean()


def focal_backward(x: torch.Tensor, t: torch.Tensor) -> None:
    leaf = x.clone().requires_grad_(True)
    sigmoid_focal_loss(leaf, t, reduction="mean").backward()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build", default=str(REPO / "build"))
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)

    rng = np.random.default_rng(1)
    binary_t = (rng.random(BINARY_ELEMENTS) < 0.01).astype(np.float32)
    binary_x = rng.normal(0, 2, BINARY_ELEMENTS).astype(np.float32)
    multi_x = rng.normal(0, 2, (ROWS, CLASSES)).astype(np.float32)
    multi_t = rng.integers(0, CLASSES, ROWS).astype(np.int64)

    with tempfile.TemporaryDirectory() as data_dir:
        d = pathlib.Path(data_dir)
        binary_x.tofile(d / "binary_scores.f32")
        binary_t.tofile(d / "binary_targets.f32")
        multi_x.tofile(d / "multiclass_scores.f32")
        multi_t.tofile(d / "multiclass_targets.i64")
        out = subprocess.run(
            [str(pathlib.Path(args.build) / "bench" / "losses_benchmark"),
             "--benchmark_format=json", f"--benchmark_repetitions={args.repeats}",
             "--benchmark_report_aggregates_only=true"],
            env=dict(os.environ, FM_BENCH_DATA_DIR=data_dir), check=True,
            capture_output=True, text=True)
    ours = {b["run_name"]: b["real_time"] for b in json.loads(out.stdout)["benchmarks"]
            if b.get("aggregate_name") == "median"}

    bx, bt = torch.from_numpy(binary_x), torch.from_numpy(binary_t)
    mx, mt = torch.from_numpy(multi_x), torch.from_numpy(multi_t)
    rows = [
        ("binary focal, 10M, value", "BM_BinaryFocal",
         lambda: sigmoid_focal_loss(bx, bt, reduction="mean"), "torchvision sigmoid_focal_loss"),
        ("binary focal, 10M, value + gradient", "BM_BinaryFocalWithGradient",
         lambda: focal_backward(bx, bt), "sigmoid_focal_loss + backward"),
        ("binary cross-entropy, 10M", "BM_BinaryCrossEntropy",
         lambda: F.binary_cross_entropy_with_logits(bx, bt), "F.binary_cross_entropy_with_logits"),
        ("asymmetric (ASL), 10M", "BM_BinaryAsymmetric",
         lambda: asymmetric(bx, bt), "official ASL formula in torch"),
        ("multiclass cross-entropy, 65536x80", "BM_MulticlassCrossEntropy",
         lambda: F.cross_entropy(mx, mt), "F.cross_entropy"),
        ("multiclass focal, 65536x80", "BM_MulticlassFocal",
         lambda: softmax_focal(mx, mt), "log_softmax focal in torch"),
    ]
    print(f"Machine: {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cores; torch {torch.__version__}, one thread each; "
          f"best of {args.repeats} (torch) vs median of {args.repeats} (focalmetrics).\n")
    print("| loss | focalmetrics core (ms) | PyTorch (ms) | PyTorch reference | speed-up |")
    print("|---|---:|---:|---|---:|")
    for label, bench, fn, reference in rows:
        theirs = best_ms(fn, args.repeats)
        mine = ours[bench]
        print(f"| {label} | {mine:.1f} | {theirs:.1f} | {reference} | {theirs / mine:.1f}x |")
    print(f"\nfocalmetrics breakdown: validation (Prepare) {ours['BM_PrepareBinary']:.1f} ms, "
          f"kernel alone {ours['BM_BinaryFocalKernelOnly']:.1f} ms on 10M elements.")


if __name__ == "__main__":
    main()
