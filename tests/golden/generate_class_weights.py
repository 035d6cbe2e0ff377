#!/usr/bin/python3
"""Writes tests/golden/class_weights.json: class weights for given class counts,
as Cui et al.'s official code computes the effective-number weights (and the
inverse / inverse-square-root frequencies), normalised to sum to the number of
classes, with empty classes counted as one sample. Betas are the float32 values
a proto `float` carries. Run: /usr/bin/python3 tests/golden/generate_class_weights.py
"""

from __future__ import annotations

import json
import pathlib

import numpy as np

OUT = pathlib.Path(__file__).with_name("class_weights.json")


def effective_number(counts: np.ndarray, beta: float) -> np.ndarray:
    # Cui et al. 2019, official code (class_balanced_loss.py).
    effective_num = 1.0 - np.power(beta, counts)
    weights = (1.0 - beta) / np.array(effective_num)
    return weights / np.sum(weights) * len(counts)


def normalised(raw: np.ndarray) -> np.ndarray:
    return raw / raw.sum() * len(raw)


def main() -> None:
    cases = []
    for counts in ([900, 90, 9, 1], [50, 50, 50], [5000, 0, 12], [1, 2, 3, 4, 5, 6, 7, 8]):
        n = np.maximum(np.array(counts, dtype=np.float64), 1)
        for beta in (0.999, 0.9, 0.9999):
            b = float(np.float32(beta))
            cases.append({"counts": counts, "scheme": "EFFECTIVE_NUMBER", "beta": b,
                          "weights": effective_number(n, b).tolist()})
        cases.append({"counts": counts, "scheme": "INVERSE_FREQUENCY",
                      "weights": normalised(1.0 / n).tolist()})
        cases.append({"counts": counts, "scheme": "INVERSE_SQRT_FREQUENCY",
                      "weights": normalised(1.0 / np.sqrt(n)).tolist()})
    OUT.write_text(json.dumps({"generator": "tests/golden/generate_class_weights.py",
                               "cases": cases}, indent=1) + "\n")
    print(f"wrote {OUT} ({len(cases)} cases)")


if __name__ == "__main__":
    main()
