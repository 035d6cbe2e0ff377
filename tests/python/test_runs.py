"""Runs end to end over gRPC: concurrent workers streaming into a run, exact
and bounded-memory PR-AUC against scikit-learn, idempotent delivery, epochs,
class weights, the recommendation and the limits."""

from __future__ import annotations

import json
import pathlib
import random
import threading
from typing import Any, Iterator

import grpc
import numpy as np
import pytest

import focalmetrics
from conftest import RunningServer
from focalmetrics._proto import pb
from runs_data import Stream, make_stream, reference, split_batches

GOLDEN = pathlib.Path(__file__).resolve().parents[1] / "golden"
WORKERS = 4


def requests_for(client: focalmetrics.Client, run: str, stream: Stream,
                 bounds: list[tuple[int, int]], worker: int) -> list[pb.ReportRequest]:
    """Worker `worker`'s share of the batches (every WORKERS-th), seq from 1."""
    mine = bounds[worker::WORKERS]
    return [pb.ReportRequest(
        run=run, worker=f"worker-{worker}", seq=seq, step=seq,
        batch=client.batch(stream.scores[a:b], stream.targets[a:b], task=stream.task),
        losses=[pb.LossSpec(kind=pb.LOSS_KIND_CROSS_ENTROPY)])
        for seq, (a, b) in enumerate(mine, start=1)]


def stream_concurrently(client: focalmetrics.Client,
                        per_worker: list[list[pb.ReportRequest]]) -> list[pb.ReportAck]:
    """One StreamReports call per worker, all at once; returns every ack."""
    acks: list[pb.ReportAck] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def run(requests: list[pb.ReportRequest]) -> None:
        try:
            got = list(client.stream_reports(iter(requests), timeout=120))
            with lock:
                acks.extend(got)
        except BaseException as error:  # noqa: BLE001 - re-raised below
            errors.append(error)

    threads = [threading.Thread(target=run, args=(r,)) for r in per_worker]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=180)
    assert not errors, errors
    return acks


def assert_matches_reference(metrics: pb.RunMetrics, expected: dict[str, Any],
                             tolerance: float = 1e-9) -> None:
    ap = metrics.average_precision
    assert ap.exact
    for c, want in enumerate(expected["per_class"]):
        got = ap.per_class[c]
        assert got.class_id == c
        assert got.positives == expected["positives"][c]
        if want is None:
            assert not got.defined
        else:
            assert got.defined
            assert got.ap == pytest.approx(want, abs=tolerance)
            assert got.lower == got.ap == got.upper
    assert ap.macro == pytest.approx(expected["macro"], abs=tolerance)
    assert ap.weighted == pytest.approx(expected["weighted"], abs=tolerance)
    assert ap.micro == pytest.approx(expected["micro"], abs=tolerance)


@pytest.mark.parametrize("task", ["binary", "multiclass", "multilabel"])
def test_concurrent_workers_give_scikit_learn_ap(client: focalmetrics.Client, task: str) -> None:
    stream = make_stream(task, 6000, seed=hash(task) % 1000)
    bounds = split_batches(len(stream.targets), seed=1)
    run = f"concurrent-{task}"
    acks = stream_concurrently(
        client, [requests_for(client, run, stream, bounds, w) for w in range(WORKERS)])
    assert len(acks) == len(bounds)
    assert not any(a.HasField("error") or a.duplicate for a in acks)
    metrics = client.metrics(run)
    assert metrics.batches == len(bounds)
    assert metrics.samples == len(stream.targets)
    assert_matches_reference(metrics, reference(stream))


def test_resending_everything_twice_changes_nothing(client: focalmetrics.Client) -> None:
    stream = make_stream("multiclass", 4000, seed=7)
    bounds = split_batches(len(stream.targets), seed=2)
    once = [requests_for(client, "once", stream, bounds, w) for w in range(WORKERS)]
    stream_concurrently(client, once)

    rng = random.Random(3)
    twice = []
    for w in range(WORKERS):
        requests = requests_for(client, "twice", stream, bounds, w)
        # Every batch again, in another order, each resend after its first
        # send: first sends stay in seq order (a seq below one already applied
        # is a duplicate by design, so a worker never skips ahead).
        mixed: list[pb.ReportRequest] = []
        pending: list[pb.ReportRequest] = []
        for request in requests:
            mixed.append(request)
            pending.append(request)
            if rng.random() < 0.5:
                mixed.append(pending.pop(rng.randrange(len(pending))))
        rng.shuffle(pending)
        twice.append(mixed + pending)
    acks = stream_concurrently(client, twice)
    assert sum(a.duplicate for a in acks) == len(bounds)

    a, b = client.metrics("once"), client.metrics("twice")
    assert (a.samples, a.batches) == (b.samples, b.batches)
    assert a.average_precision.per_class == b.average_precision.per_class
    assert (a.average_precision.macro, a.average_precision.micro,
            a.average_precision.weighted) == (b.average_precision.macro,
                                              b.average_precision.micro,
                                              b.average_precision.weighted)
    for x, y in zip(a.classes, b.classes):
        assert (x.positives, x.negatives) == (y.positives, y.negatives)
        assert x.mean_probability == pytest.approx(y.mean_probability, rel=1e-12)
    # The epoch mean is a sum over the same batches in another order.
    assert a.losses[0].mean == pytest.approx(b.losses[0].mean, rel=1e-12)


def test_epochs_close_and_stay_queryable(client: focalmetrics.Client) -> None:
    stream = make_stream("binary", 600, seed=5)
    for epoch in range(3):
        part = slice(epoch * 200, (epoch + 1) * 200)
        ack = client.report("epochs", stream.scores[part], stream.targets[part], task="binary",
                            worker="w", seq=epoch + 1, step=100 * epoch, epoch=epoch)
        assert not ack.HasField("error")
    for epoch in range(3):
        part = slice(epoch * 200, (epoch + 1) * 200)
        expected = reference(Stream("binary", stream.scores[part], stream.targets[part], 1))
        metrics = client.metrics("epochs", epoch=epoch)
        assert metrics.epoch == epoch and metrics.samples == 200
        assert metrics.average_precision.macro == pytest.approx(expected["macro"], abs=1e-12)
    assert client.metrics("epochs").epoch == 2
    with pytest.raises(focalmetrics.FocalMetricsError) as raised:
        client.metrics("epochs", epoch=9)
    assert raised.value.code == grpc.StatusCode.NOT_FOUND


def test_class_weights_follow_the_formula(client: focalmetrics.Client) -> None:
    golden = json.loads((GOLDEN / "class_weights.json").read_text())["cases"]
    for i, case in enumerate(golden):
        counts = case["counts"]
        run = f"weights-{i}"
        labels = np.repeat(np.arange(len(counts)), counts)
        scores = np.zeros((len(labels), len(counts)), np.float32)
        client.report(run, scores, labels, task="multiclass", worker="w", seq=1)
        weights = client.class_weights(run, scheme=case["scheme"], beta=case.get("beta"))
        assert list(weights.samples_per_class) == counts
        np.testing.assert_allclose(weights.weights, case["weights"], rtol=1e-9)


def test_class_balanced_focal_uses_the_run_counts(client: focalmetrics.Client) -> None:
    labels = np.repeat(np.arange(3), [300, 30, 3])
    client.report("cb-run", np.zeros((333, 3), np.float32), labels, task="multiclass",
                  worker="w", seq=1)
    scores = np.random.default_rng(1).normal(size=(16, 3)).astype(np.float32)
    targets = np.arange(16) % 3
    via_run = client.compute_loss(scores, targets, task="multiclass",
                                  losses="class_balanced_focal", run="cb-run")
    explicit = client.compute_loss(scores, targets, task="multiclass",
                                   losses={"kind": "class_balanced_focal",
                                           "samples_per_class": [300, 30, 3]})
    assert via_run["class_balanced_focal"].value == explicit["class_balanced_focal"].value


def test_reports_weigh_class_balanced_focal_by_the_run_counts_so_far(
        client: focalmetrics.Client) -> None:
    """A report names its run, so class-balanced focal without counts uses the
    run's counts before the batch; a new run has none (every n_c = 0 counts as
    1: equal weights). Compared with explicit counts through ComputeLoss."""
    rng = np.random.default_rng(2)
    scores = rng.normal(size=(16, 3)).astype(np.float32)
    targets = np.arange(16) % 3
    cb = "class_balanced_focal"

    def explicit(counts: list[int]) -> float:
        return client.compute_loss(scores, targets, task="multiclass",
                                   losses={"kind": cb, "samples_per_class": counts})[cb].value

    first = client.report("cb-report", scores, targets, task="multiclass", worker="w", seq=1,
                          losses=cb)
    assert first.losses[0].value == pytest.approx(explicit([0, 0, 0]), rel=1e-12)
    labels = np.repeat(np.arange(3), [300, 30, 3])
    client.report("cb-report", np.zeros((333, 3), np.float32), labels, task="multiclass",
                  worker="w", seq=2)
    counts = [300 + 6, 30 + 5, 3 + 5]  # the first batch's targets count too
    third = client.report("cb-report", scores, targets, task="multiclass", worker="w", seq=3,
                          losses=cb)
    assert third.losses[0].value == pytest.approx(explicit(counts), rel=1e-12)
    assert third.losses[0].value != pytest.approx(first.losses[0].value, rel=1e-3)
    # The batch's own counts are not in its weights: the run has them now.
    assert list(client.class_weights("cb-report").samples_per_class) == [
        c + n for c, n in zip(counts, (6, 5, 5))]


@pytest.mark.parametrize("kind,expected_loss,expected_gamma", [
    ("balanced", "LOSS_KIND_CROSS_ENTROPY", None),
    ("mild", "LOSS_KIND_FOCAL", 0.0),
    ("strong_multiclass", "LOSS_KIND_FOCAL", 2.0),
    ("strong_binary", "LOSS_KIND_FOCAL", 2.0),
    ("extreme_binary", "LOSS_KIND_FOCAL", 3.0),
    ("multilabel", "LOSS_KIND_ASYMMETRIC", None),
    ("masks", "LOSS_KIND_FOCAL_DICE", None),
    ("detection", "LOSS_KIND_RETINANET", 2.0),
])
def test_recommendation_follows_the_decision_table(client: focalmetrics.Client, kind: str,
                                                   expected_loss: str,
                                                   expected_gamma: Any) -> None:
    rng = np.random.default_rng(0)
    run = f"recommend-{kind}"
    if kind in ("balanced", "mild", "strong_multiclass"):
        counts = {"balanced": [100, 100, 100], "mild": [500, 100, 60],
                  "strong_multiclass": [3000, 100, 20]}[kind]
        labels = np.repeat(np.arange(3), counts)
        client.report(run, rng.normal(size=(len(labels), 3)).astype(np.float32), labels,
                      task="multiclass", worker="w", seq=1, losses=["focal"])
    elif kind in ("strong_binary", "extreme_binary"):
        n = 20_000
        positives = 100 if kind == "strong_binary" else 10
        targets = np.zeros(n, np.float32)
        targets[:positives] = 1
        client.report(run, rng.normal(size=n).astype(np.float32), targets, task="binary",
                      worker="w", seq=1, losses=[{"kind": "focal", "alpha": -1}])
    elif kind == "multilabel":
        targets = (rng.random((500, 4)) < 0.05).astype(np.float32)
        client.report(run, rng.normal(size=(500, 4)).astype(np.float32), targets,
                      task="multilabel", worker="w", seq=1)
    elif kind == "detection":
        anchors = rng.choice([-2, -1, 0, 1], size=2000, p=[0.05, 0.9, 0.03, 0.02])
        client.report(run, rng.normal(size=(2000, 2)).astype(np.float32), anchors,
                      task="detection", worker="w", seq=1)
    else:
        targets = (rng.random((4, 16, 16)) < 0.05).astype(np.float32)
        client.report(run, rng.normal(size=(4, 16, 16)).astype(np.float32), targets,
                      task="binary", worker="w", seq=1)
    recommendation = client.metrics(run).recommendation
    assert pb.LossKind.Name(recommendation.loss.kind) == expected_loss
    if expected_gamma is not None:
        assert recommendation.loss.gamma == expected_gamma
    assert recommendation.reason
    if kind in ("mild", "strong_multiclass"):
        # Multiclass focal's alpha per class: the run's 1/sqrt(count) weights.
        weights = client.class_weights(run, scheme="inverse_sqrt_frequency").weights
        np.testing.assert_allclose(recommendation.loss.class_alpha, weights, rtol=1e-6)
        np.testing.assert_allclose(weights, 3 / np.sqrt(counts) / np.sum(1 / np.sqrt(counts)),
                                   rtol=1e-12)
    if kind == "balanced":
        assert any("on balanced data" in w for w in recommendation.warnings)
    if kind == "strong_binary":
        assert any("no class weighting" in w for w in recommendation.warnings)
        assert any("accuracy is misleading" in w for w in recommendation.warnings)


def test_housekeeping(client: focalmetrics.Client) -> None:
    client.report("house", np.zeros(3, np.float32), np.array([1, 0, 0], np.float32),
                  task="binary", worker="w", seq=1, split="val")
    runs = {(r.run, r.split): r for r in client.list_runs()}
    assert runs[("house", "val")].samples == 3
    assert runs[("house", "val")].task == pb.TASK_BINARY
    curve = client.precision_recall_curve("house", split="val")
    assert list(curve.recall)[-1] == 1.0
    assert client.delete_run("house") == 1
    assert ("house", "val") not in {(r.run, r.split) for r in client.list_runs()}
    with pytest.raises(focalmetrics.FocalMetricsError) as raised:
        client.metrics("house", split="val")
    assert raised.value.code == grpc.StatusCode.NOT_FOUND


@pytest.fixture(scope="module")
def bounded_server() -> Iterator[RunningServer]:
    running = RunningServer("--run_memory_budget_mb=0.05", "--histogram_kb_per_class=8",
                            "--max_classes=8", "--max_runs=20")
    yield running
    assert running.stop() == 0, "".join(running.log)


@pytest.mark.parametrize("task", ["binary", "multiclass", "multilabel"])
def test_bounded_memory_ap_brackets_the_exact_value(bounded_server: RunningServer,
                                                    task: str) -> None:
    stream = make_stream(task, 20_000, seed=11)
    with focalmetrics.Client(bounded_server.target) as client:
        bounds = split_batches(len(stream.targets), seed=4)
        stream_concurrently(
            client, [requests_for(client, f"bounded-{task}", stream, bounds, w)
                     for w in range(WORKERS)])
        metrics = client.metrics(f"bounded-{task}")
    expected = reference(stream)
    assert not metrics.average_precision.exact
    for c, want in enumerate(expected["per_class"]):
        got = metrics.average_precision.per_class[c]
        assert got.positives == expected["positives"][c]
        if want is None:
            assert not got.defined
            continue
        assert got.lower <= want <= got.upper, (c, got, want)
        assert got.lower <= got.ap <= got.upper


def test_one_million_sample_stream_bounds_within_1e3(bounded_server: RunningServer) -> None:
    rng = np.random.default_rng(12)
    n = 1_000_000
    targets = (rng.random(n) < 0.01).astype(np.float32)
    scores = (rng.normal(0, 1, n) + 2.0 * targets).astype(np.float32)
    # This server's budget is tiny, so the run is in bounded-memory mode; use
    # the acceptance budget of 64 KiB per class on a server of its own.
    running = RunningServer("--run_memory_budget_mb=1", "--histogram_kb_per_class=64")
    try:
        with focalmetrics.Client(running.target) as client:
            for seq, start in enumerate(range(0, n, 100_000), start=1):
                ack = client.report("million", scores[start:start + 100_000],
                                    targets[start:start + 100_000], task="binary",
                                    worker="w", seq=seq)
                assert not ack.HasField("error")
            ap = client.metrics("million").average_precision
    finally:
        assert running.stop() == 0
    assert not ap.exact
    want = reference(Stream("binary", scores, targets, 1))["macro"]
    got = ap.per_class[0]
    assert got.lower <= want <= got.upper
    assert got.upper - got.lower <= 1e-3


def test_limits_are_resource_exhausted_and_change_nothing(bounded_server: RunningServer) -> None:
    with focalmetrics.Client(bounded_server.target) as client:
        with pytest.raises(focalmetrics.FocalMetricsError) as raised:
            client.report("wide", np.zeros((2, 9), np.float32), np.array([0, 1]),
                          task="multiclass", worker="w", seq=1)
        assert raised.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "--max_classes 8" in raised.value.message
        assert "wide" not in {r.run for r in client.list_runs()}
