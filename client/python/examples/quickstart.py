#!/usr/bin/python3
"""Computes the focal family on an imbalanced binary batch and a multiclass one,
through a running focalmetrics server, next to torchvision's sigmoid_focal_loss.

    PYTHONPATH=client/python /usr/bin/python3 client/python/examples/quickstart.py localhost:50051
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from torchvision.ops import sigmoid_focal_loss

import focalmetrics


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("target", nargs="?", default="localhost:50051")
    args = parser.parse_args()
    rng = np.random.default_rng(0)

    # 1% positives whose logits sit 2 higher: a typical rare-event detector.
    targets = (rng.random(100_000) < 0.01).astype(np.float32)
    logits = (rng.normal(-3.0, 1.5, targets.shape) + 2.0 * targets).astype(np.float32)

    with focalmetrics.Client(args.target) as client:
        results = client.compute_loss(
            logits, targets, task="binary",
            losses=["cross_entropy", "focal", {"kind": "focal", "gamma": 5, "name": "focal_g5"},
                    "asymmetric"])
        reference = sigmoid_focal_loss(torch.from_numpy(logits), torch.from_numpy(targets),
                                       reduction="mean").item()
        print(f"binary batch: {targets.size} elements, {int(targets.sum())} positives")
        for name, result in results.items():
            print(f"  {name:<14} {result.value:.8f}")
        print(f"  torchvision sigmoid_focal_loss {reference:.8f}")

        counts = [5000, 500, 50, 5]
        labels = np.repeat(np.arange(4), counts)
        scores = rng.normal(0, 1, (labels.size, 4)).astype(np.float32)
        scores[np.arange(labels.size), labels] += 1.5
        multiclass = client.compute_loss(
            scores, labels, task="multiclass",
            losses=["cross_entropy", "focal",
                    {"kind": "class_balanced_focal", "samples_per_class": counts}],
            return_gradients=True)
        print(f"multiclass batch: class counts {counts}")
        for name, result in multiclass.items():
            print(f"  {name:<22} {result.value:.6f}  |grad| {np.abs(result.gradient).sum():.4f}")


if __name__ == "__main__":
    main()
