"""Synthetic imbalanced streams for the run tests, and the scikit-learn
reference for what the server must report about them."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.metrics import average_precision_score


@dataclass
class Stream:
    task: str
    scores: np.ndarray   # float32, as sent
    targets: np.ndarray  # as sent
    classes: int


def make_stream(task: str, n: int, seed: int, classes: int = 4) -> Stream:
    """Imbalanced data with ties (a third of the scores rounded to 0.5) and a
    class without positives (the last one)."""
    rng = np.random.default_rng(seed)
    if task == "binary":
        targets = (rng.random(n) < 0.1).astype(np.float32)
        scores = rng.normal(0, 1, n) + 1.5 * targets
        ties = rng.random(n) < 0.33
        scores[ties] = np.round(scores[ties] * 2) / 2
        return Stream(task, scores.astype(np.float32), targets, 1)
    if task == "multiclass":
        probabilities = np.array([0.7, 0.2, 0.1] + [0.0] * (classes - 3))
        targets = rng.choice(classes, size=n, p=probabilities).astype(np.int64)
        scores = rng.normal(0, 1, (n, classes))
        scores[np.arange(n), targets] += 1.0
        # Ties in softmax probabilities come from repeated rows: rounding the
        # logits would make probabilities that tie up to the last bit, where
        # any two softmax implementations' summation orders disagree.
        repeats = np.flatnonzero(rng.random(n) < 0.33)
        repeats = repeats[repeats > 0]
        source = rng.integers(0, repeats, size=len(repeats))
        scores[repeats] = scores[source]
        targets[repeats] = targets[source]
        return Stream(task, scores.astype(np.float32), targets, classes)
    targets = (rng.random((n, classes)) < np.array([0.3, 0.1, 0.02] + [0.0] * (classes - 3)))
    targets = targets.astype(np.float32)
    scores = rng.normal(0, 1, (n, classes)) + 1.5 * targets
    ties = rng.random((n, classes)) < 0.33
    scores[ties] = np.round(scores[ties] * 2) / 2
    return Stream(task, scores.astype(np.float32), targets, classes)


def report_requests(run: str, stream: Stream, bounds: list[tuple[int, int]], worker: int,
                    workers: int) -> list[Any]:
    """Worker `worker`'s share of the batches (every workers-th), seq from 1."""
    from focalmetrics._proto import pb
    from focalmetrics._tensors import to_tensor

    task = getattr(pb, f"TASK_{stream.task.upper()}")
    return [pb.ReportRequest(
        run=run, worker=f"worker-{worker}", seq=seq, step=seq,
        batch=pb.Batch(task=task, scores=to_tensor(stream.scores[a:b], "scores"),
                       targets=to_tensor(stream.targets[a:b], "targets")),
        losses=[pb.LossSpec(kind=pb.LOSS_KIND_CROSS_ENTROPY)])
        for seq, (a, b) in enumerate(bounds[worker::workers], start=1)]


def split_batches(n: int, seed: int) -> list[tuple[int, int]]:
    """Random batch sizes from 1 to 300."""
    rng = np.random.default_rng(seed)
    bounds, start = [], 0
    while start < n:
        size = int(rng.integers(1, 300))
        bounds.append((start, min(n, start + size)))
        start += size
    return bounds


def softmax(scores: np.ndarray) -> np.ndarray:
    x = scores.astype(np.float64)
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def reference(stream: Stream) -> dict[str, Any]:
    """Per-class AP (None where undefined) and the macro / weighted / micro
    averages over the defined classes, as scikit-learn computes them."""
    if stream.task == "binary":
        labels = stream.targets[:, None].astype(int)
        scores = stream.scores.astype(np.float64)[:, None]
    elif stream.task == "multiclass":
        labels = np.eye(stream.classes, dtype=int)[stream.targets]
        scores = softmax(stream.scores)
    else:
        labels = stream.targets.astype(int)
        scores = stream.scores.astype(np.float64)
    per_class: list[Any] = []
    for c in range(labels.shape[1]):
        if labels[:, c].sum() == 0:
            per_class.append(None)
            continue
        per_class.append(float(average_precision_score(labels[:, c], scores[:, c])))
    defined = [(ap, labels[:, c].sum()) for c, ap in enumerate(per_class) if ap is not None]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        micro = float(average_precision_score(labels.ravel(), scores.ravel()))
    return {
        "per_class": per_class,
        "positives": labels.sum(axis=0).tolist(),
        "macro": float(np.mean([ap for ap, _ in defined])),
        "weighted": float(sum(ap * w for ap, w in defined) / sum(w for _, w in defined)),
        "micro": micro if stream.task != "binary" else per_class[0],
    }
