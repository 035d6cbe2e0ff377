"""Measures Reporter.log() next to tensor.numpy().tobytes(), like for like.

Both calls are timed in the same conditions: each right after the same gap
(a simulated training step), and each gap with one logged batch in flight on
the background thread and the server. Timing the bare copy on an otherwise
idle process instead compares the copy with hot caches against log() with
the caches the Reporter's own traffic cooled; docs/BENCHMARKS.md shows both.
Shared by tests/python/test_reporter.py and bench/reporter_overhead.py.
"""

from __future__ import annotations

import itertools
import statistics
import time
from typing import Any, Callable


def paired_medians_us(reporter: Any, scores: Any, targets: Any, gap: Callable[[], object],
                      rounds: int) -> tuple[float, float]:
    """Median microseconds of (scores.numpy().tobytes(), reporter.log(...))."""
    steps = itertools.count(1)
    copy_s, log_s = [], []
    for _ in range(rounds):
        gap()
        start = time.perf_counter()
        scores.numpy().tobytes()
        copy_s.append(time.perf_counter() - start)
        reporter.log(next(steps), scores, targets)  # in flight during the next gap
        gap()
        start = time.perf_counter()
        reporter.log(next(steps), scores, targets)
        log_s.append(time.perf_counter() - start)
    return 1e6 * statistics.median(copy_s), 1e6 * statistics.median(log_s)


def quiet_copy_median_us(scores: Any, gap: Callable[[], object], rounds: int) -> float:
    """Median microseconds of scores.numpy().tobytes() with no Reporter traffic."""
    copy_s = []
    for _ in range(rounds):
        gap()
        start = time.perf_counter()
        scores.numpy().tobytes()
        copy_s.append(time.perf_counter() - start)
    return 1e6 * statistics.median(copy_s)
