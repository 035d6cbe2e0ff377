"""focalmetrics-loadgen (client/cpp) against a real server: what it reports
is what the server holds, its data follows the imbalance it was asked for,
and refusals and bad flags end in a failing exit code with the reason."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess

import focalmetrics
from conftest import RunningServer, server_binary

LOADGEN = server_binary().parents[1] / "client" / "cpp" / "focalmetrics-loadgen"


def loadgen(target: str, *flags: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(LOADGEN), f"--target={target}", *flags], capture_output=True,
                          text=True, timeout=120)


def test_the_report_matches_the_run_on_the_server(server: RunningServer) -> None:
    done = loadgen(server.target, "--run=fleet", "--workers=3", "--batches=30",
                   "--batch_size=64", "--classes=5", "--imbalance=50", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["batches_acked"] == report["batches_sent"] == 90
    assert report["errors"] == report["duplicates"] == 0
    with focalmetrics.Client(server.target) as client:
        metrics = client.metrics("fleet")
    assert metrics.batches == 90 and metrics.samples == 90 * 64
    assert report["run_samples"] == metrics.samples
    assert report["pr_auc_macro"] == metrics.average_precision.macro
    assert 0.2 < metrics.average_precision.macro < 0.95  # neither trivial nor random
    # Class c has frequency proportional to 50^(-c/4): 5 binomial sigmas.
    weights = [50 ** (-c / 4) for c in range(5)]
    n = metrics.samples
    for c, stats in enumerate(metrics.average_precision.per_class):
        p = weights[c] / sum(weights)
        assert abs(stats.positives - n * p) <= 5 * math.sqrt(n * p * (1 - p)), c


def test_a_refusing_server_fails_the_run_with_its_reason() -> None:
    server = RunningServer("--max_classes=3")
    try:
        done = loadgen(server.target, "--workers=2", "--batches=5", "--classes=5", "--json")
    finally:
        server.stop()
    assert done.returncode == 1
    report = json.loads(done.stdout)
    assert report["errors"] == report["batches_sent"] == 10 and report["batches_acked"] == 0
    assert report["first_error"] == ("batch.scores.shape: 5 classes, more than this "
                                     "server's --max_classes 3")
    assert "run_samples" not in report  # nothing was applied, so there is no run


def test_a_second_run_into_the_same_run_id_fails_as_duplicates(server: RunningServer) -> None:
    flags = ("--run=twice", "--workers=2", "--batches=5", "--batch_size=16", "--json")
    assert loadgen(server.target, *flags).returncode == 0
    again = loadgen(server.target, *flags)
    assert again.returncode == 1
    report = json.loads(again.stdout)
    assert report["duplicates"] == 10 and report["batches_acked"] == 0
    assert "is a duplicate: run 'twice' already has it" in report["first_error"]
    with focalmetrics.Client(server.target) as client:
        assert client.metrics("twice").batches == 10  # nothing counted twice


def test_a_server_that_stops_answering_fails_the_run_by_its_deadline() -> None:
    server = RunningServer()
    os.kill(server.process.pid, signal.SIGSTOP)  # accepts connections, answers nothing
    try:
        done = loadgen(server.target, "--workers=1", "--batches=3", "--deadline=2s", "--json")
    finally:
        os.kill(server.process.pid, signal.SIGCONT)
        server.stop()
    assert done.returncode == 1
    report = json.loads(done.stdout)
    assert report["batches_acked"] == 0
    assert "DEADLINE_EXCEEDED" in report["first_error"]


def test_bad_flags_exit_2_naming_the_flag(server: RunningServer) -> None:
    done = loadgen(server.target, "--losses=focal,nope")
    assert done.returncode == 2 and "--losses: unknown loss kind 'nope'" in done.stderr
    done = loadgen(server.target, "--imbalance=0.5")
    assert done.returncode == 2 and "--imbalance: 0.5" in done.stderr
    done = loadgen(server.target, "--workers=0")
    assert done.returncode == 2 and "--workers" in done.stderr
