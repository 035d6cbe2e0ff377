"""Durability end to end: kill -9 at random moments under 4 streaming workers
that resend from durable_seq loses and doubles nothing; a full disk keeps the
server serving without half-written snapshots; SIGTERM drains, snapshots and
exits 0. (Damaged snapshot files: core/durability/run_store_test.cc.)"""

from __future__ import annotations

import random
import resource
import socket
import threading
import time
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest

import focalmetrics
from conftest import RunningServer
from focalmetrics._proto import pb
from focalmetrics.durable import deliver_durably
from runs_data import make_stream, report_requests, split_batches

WORKERS = 4


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fixed_batches(n: int, size: int) -> list[tuple[int, int]]:
    return [(a, min(n, a + size)) for a in range(0, n, size)]


def assert_same_metrics(a: pb.RunMetrics, b: pb.RunMetrics) -> None:
    assert (a.samples, a.batches) == (b.samples, b.batches)
    assert a.average_precision.per_class == b.average_precision.per_class
    assert a.average_precision.micro == b.average_precision.micro
    for x, y in zip(a.classes, b.classes):
        assert (x.positives, x.negatives) == (y.positives, y.negatives)
    assert a.losses[0].mean == pytest.approx(b.losses[0].mean, rel=1e-12)


def test_kill_9_twenty_times_loses_and_doubles_nothing(tmp_path: Path) -> None:
    stream = make_stream("multiclass", 24_000, seed=21)
    bounds = fixed_batches(len(stream.targets), 100)
    port = free_port()
    flags = (f"--state_dir={tmp_path / 'state'}", "--snapshot_interval=50ms")
    server = RunningServer(*flags, port=port)
    target = server.target
    finished = threading.Event()
    errors: list[BaseException] = []
    reconnects: list[int] = []

    def worker(w: int) -> None:
        try:
            reconnects.append(deliver_durably(
                target, report_requests("crash", stream, bounds, w, WORKERS),
                deadline_s=300, poll_s=0.05, send_interval_s=0.25))
        except BaseException as error:  # noqa: BLE001 - re-raised below
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(WORKERS)]
    for thread in threads:
        thread.start()
    rng = random.Random(5)
    kills = 0
    while kills < 22 and any(t.is_alive() for t in threads):
        time.sleep(rng.uniform(0.1, 0.6))
        server.kill()
        kills += 1
        server = RunningServer(*flags, port=port)
    for thread in threads:
        thread.join(timeout=300)
    finished.set()
    assert not errors, errors
    assert kills >= 20, f"the stream ended after {kills} kills"
    with focalmetrics.Client(server.target) as client:
        crashed = client.metrics("crash")
    assert server.stop() == 0

    # The same batches, each sent once, into a server that never crashes.
    reference = RunningServer()
    with focalmetrics.Client(reference.target) as client:
        for w in range(WORKERS):
            for ack in client.stream_reports(
                    iter(report_requests("crash", stream, bounds, w, WORKERS)), timeout=120):
                assert not ack.HasField("error") and not ack.duplicate
        uninterrupted = client.metrics("crash")
    assert reference.stop() == 0
    assert crashed.samples == len(stream.targets)
    assert_same_metrics(crashed, uninterrupted)
    assert sum(reconnects) >= kills


def test_full_disk_keeps_serving_without_half_written_snapshots(tmp_path: Path) -> None:
    state = tmp_path / "state"
    limit = 64 * 1024

    def small_file_limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    server = RunningServer(f"--state_dir={state}", "--snapshot_interval=50ms",
                           preexec_fn=small_file_limit)
    rng = np.random.default_rng(3)
    with focalmetrics.Client(server.target) as client:
        def report(seq: int, n: int) -> pb.ReportAck:
            return client.report("disk", rng.normal(size=n).astype(np.float32),
                                 (rng.random(n) < 0.2).astype(np.float32), task="binary",
                                 worker="w", seq=seq)

        report(1, 100)  # A snapshot of ~1 KB: fits.
        deadline = time.monotonic() + 10
        while report(1, 1).durable_seq < 1:  # Resending seq 1 asks for its durability.
            assert time.monotonic() < deadline
            time.sleep(0.05)
        # 20,000 samples need 160 KB of exact scores: no longer fits.
        for seq in range(2, 6):
            ack = report(seq, 5000)
            assert not ack.HasField("error")
        time.sleep(1.0)
        ack = report(5, 1)  # A duplicate: acked with the durable seq.
        assert ack.duplicate and ack.durable_seq == 1
        assert client.metrics("disk").samples == 20_100
        with urllib_open(server.metrics_url) as text:
            assert 'focalmetrics_snapshot_errors_total{code="resource_exhausted"}' in text
    assert any("snapshot failed" in line for line in server.log)
    assert not list(state.glob("*.tmp"))
    assert server.stop() == 0  # The final snapshot fails too; the exit is clean.

    # The file on disk is the last complete snapshot.
    restarted = RunningServer(f"--state_dir={state}")
    with focalmetrics.Client(restarted.target) as client:
        assert client.metrics("disk").samples == 100
    assert restarted.stop() == 0
    assert not list((state / "quarantine").iterdir())


class urllib_open:
    """The text of a URL, as a context manager."""

    def __init__(self, url: str) -> None:
        import urllib.request

        self._response = urllib.request.urlopen(url, timeout=10)

    def __enter__(self) -> str:
        return self._response.read().decode()

    def __exit__(self, *exc: Any) -> None:
        self._response.close()


def test_sigterm_drains_snapshots_and_exits_0(tmp_path: Path) -> None:
    state = tmp_path / "state"
    # Snapshots only at shutdown: what survives proves the final snapshot.
    server = RunningServer(f"--state_dir={state}", "--snapshot_interval=1h",
                           "--drain_deadline=3s")
    stream = make_stream("binary", 3000, seed=8)
    requests = report_requests("drain", stream, fixed_batches(3000, 100), 0, 1)
    acked: list[pb.ReportAck] = []
    outcome: dict[str, Any] = {}

    def slow_requests():
        for request in requests:
            yield request
            time.sleep(0.05)

    def stream_until_drained() -> None:
        with focalmetrics.Client(server.target) as client:
            try:
                for ack in client.stream_reports(slow_requests(), timeout=60):
                    acked.append(ack)
            except focalmetrics.FocalMetricsError as error:
                outcome["code"] = error.code

    thread = threading.Thread(target=stream_until_drained)
    thread.start()
    time.sleep(0.5)
    server.process.send_signal(15)
    # Health turns NOT_SERVING while the drain runs.
    with grpc.insecure_channel(server.target) as channel:
        try:
            status = channel.unary_unary("/grpc.health.v1.Health/Check")(b"", timeout=2)
            assert status == b"\x08\x02"  # NOT_SERVING
        except grpc.RpcError as error:
            # Already shut down: refused (UNAVAILABLE), or accepted in the
            # instant Shutdown began and cancelled by it (CANCELLED).
            assert error.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED)
    thread.join(timeout=30)
    assert server.process.wait(timeout=30) == 0
    assert outcome.get("code") == grpc.StatusCode.UNAVAILABLE
    assert 0 < len(acked) < len(requests)
    restarted = RunningServer(f"--state_dir={state}")
    with focalmetrics.Client(restarted.target) as client:
        assert client.metrics("drain").samples == 100 * len(acked)
    assert restarted.stop() == 0


def test_regression_sigterm_ends_idle_streams_at_once(tmp_path: Path) -> None:
    """A stream waiting for the client's next message used to hold shutdown for
    the whole drain deadline, then be cancelled instead of ending UNAVAILABLE."""
    server = RunningServer(f"--state_dir={tmp_path}", "--drain_deadline=20s")
    outcome: dict[str, Any] = {}
    sent_one = threading.Event()
    release = threading.Event()

    def idle_requests():
        yield pb.ReportRequest(
            run="idle", worker="w", seq=1,
            batch=pb.Batch(task=pb.TASK_BINARY,
                           scores=pb.Tensor(shape=[1], dtype=pb.DTYPE_FLOAT32,
                                            data=np.zeros(1, np.float32).tobytes()),
                           targets=pb.Tensor(shape=[1], dtype=pb.DTYPE_FLOAT32,
                                             data=np.ones(1, np.float32).tobytes())))
        sent_one.set()
        release.wait(30)  # then idle: no next message

    def stream() -> None:
        with focalmetrics.Client(server.target) as client:
            try:
                outcome["acks"] = len(list(client.stream_reports(idle_requests(), timeout=60)))
            except focalmetrics.FocalMetricsError as error:
                outcome["code"] = error.code

    thread = threading.Thread(target=stream)
    thread.start()
    assert sent_one.wait(10)
    time.sleep(0.5)
    server.process.send_signal(15)
    # Ended by the drain (UNAVAILABLE, reconnect and resend), not cancelled
    # when the 20 s deadline runs out.
    thread.join(timeout=15)
    assert not thread.is_alive(), "the idle stream was not ended by the drain"
    assert outcome.get("code") == grpc.StatusCode.UNAVAILABLE
    assert server.process.wait(timeout=30) == 0
    release.set()
