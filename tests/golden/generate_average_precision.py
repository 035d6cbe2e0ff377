#!/usr/bin/python3
"""Writes tests/golden/average_precision.json: per-class average precision from
scikit-learn's average_precision_score (Debian's python3-sklearn 1.2), for the
C++ exact accumulator to match to 1e-12.

Each case is one class: scores and 0/1 labels, with heavy ties in some cases,
and the AP (null when the class has no positives: focalmetrics reports it as
undefined, never as 0). Run: /usr/bin/python3 tests/golden/generate_average_precision.py
"""

from __future__ import annotations

import json
import pathlib
import warnings

import numpy as np
from sklearn.metrics import average_precision_score

OUT = pathlib.Path(__file__).with_name("average_precision.json")


def main() -> None:
    rng = np.random.default_rng(11)
    cases = []

    def add(name: str, scores: np.ndarray, labels: np.ndarray) -> None:
        ap = None
        if labels.sum() > 0:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ap = float(average_precision_score(labels, scores))
        cases.append({"id": name, "scores": scores.tolist(), "labels": labels.astype(int).tolist(),
                      "ap": ap})

    add("sklearn_doc_example", np.array([0.1, 0.4, 0.35, 0.8]), np.array([0, 0, 1, 1]))
    for n, prevalence in [(50, 0.3), (500, 0.05), (2000, 0.01)]:
        labels = (rng.random(n) < prevalence).astype(int)
        labels[0] = 1
        scores = rng.normal(0, 1, n) + 1.5 * labels
        add(f"random_{n}", scores, labels)
    labels = (rng.random(300) < 0.2).astype(int)
    add("heavy_ties", np.round(rng.normal(0, 1, 300) + labels, 1), labels)
    add("all_tied", np.full(20, 0.5), (np.arange(20) % 3 == 0).astype(int))
    add("all_positive", rng.normal(0, 1, 10), np.ones(10, dtype=int))
    add("no_positive", rng.normal(0, 1, 10), np.zeros(10, dtype=int))
    add("single_positive", np.array([0.3]), np.array([1]))
    OUT.write_text(json.dumps({"generator": "tests/golden/generate_average_precision.py",
                               "cases": cases}) + "\n")
    print(f"wrote {OUT} ({len(cases)} cases)")


if __name__ == "__main__":
    main()
