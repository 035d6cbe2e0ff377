#!/usr/bin/python3
"""Trains a small classifier on scikit-learn's bundled handwritten digits, made
imbalanced (class k keeps 0.6^k of its samples: 300:1 between the commonest and
the rarest digit), reporting every batch to focalmetrics with a Reporter and
training with ClassBalancedFocalLoss.from_service: the class weights come from
the counts the service accumulates for the run (the closed loop). Prints
PR-AUC per epoch; the dashboard shows it too.

    PYTHONPATH=client/python /usr/bin/python3 client/python/examples/train_imbalanced.py \\
        --target 127.0.0.1:50051 --epochs 15
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from sklearn.datasets import load_digits

import focalmetrics
from focalmetrics.torch import ClassBalancedFocalLoss


def imbalanced_digits(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    digits = load_digits()
    rng = np.random.default_rng(seed)
    keep = []
    for k in range(10):
        rows = np.flatnonzero(digits.target == k)
        count = max(1, int(round(len(rows) * 0.6**k)))
        keep.extend(rng.choice(rows, size=count, replace=False))
    keep = rng.permutation(keep)
    x = torch.tensor(digits.data[keep] / 16.0, dtype=torch.float32)
    y = torch.tensor(digits.target[keep], dtype=torch.int64)
    return x, y


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", default="127.0.0.1:50051")
    parser.add_argument("--run", default="digits-imbalanced")
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--durability", default="ack", choices=["ack", "disk"],
                        help="'disk' when the server has --state_dir")
    args = parser.parse_args()
    torch.manual_seed(0)
    x, y = imbalanced_digits(seed=0)
    print(f"{len(y)} samples, per class: {torch.bincount(y, minlength=10).tolist()}")

    model = torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.ReLU(), torch.nn.Linear(64, 10))
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    with focalmetrics.Client(args.target) as client, focalmetrics.Reporter(
            args.target, args.run, task="multiclass", losses=["cross_entropy", "focal"],
            worker="trainer-0", durability=args.durability) as reporter:
        client.delete_run(args.run)  # start afresh on every run of the example
        criterion = ClassBalancedFocalLoss.from_service(client, args.run, refresh_every=20)
        step = 0
        for epoch in range(args.epochs):
            order = torch.randperm(len(y))
            for start in range(0, len(y), args.batch_size):
                rows = order[start:start + args.batch_size]
                logits = model(x[rows])
                loss = criterion(logits, y[rows])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                step += 1
                reporter.log(step, logits, y[rows], epoch=epoch)  # returns at once
            reporter.flush(timeout=30)
            metrics = client.metrics(args.run)
            ap = metrics.average_precision
            rare = [f"{c.ap:.2f}" for c in ap.per_class[-3:] if c.defined]
            print(f"epoch {epoch:2d}  loss {loss.item():.4f}  PR-AUC macro {ap.macro:.3f} "
                  f"weighted {ap.weighted:.3f}  rarest digits {', '.join(rare)}")
        print(f"recommendation: {metrics.recommendation.reason}")


if __name__ == "__main__":
    main()
