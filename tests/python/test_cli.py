"""The `focalmetrics` command line, run as a subprocess against a real server:
each command's output must carry what the server (or the client API) says."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Iterator

import numpy as np
import pytest

import focalmetrics
from conftest import REPO, RunningServer
from focalmetrics._proto import pb

PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
RUN = "cli-run"
# Reported class counts; class 3 never occurs, so its AP is undefined.
POSITIVES = [150, 60, 30, 0]
COMMANDS = ["runs", "delete", "metrics", "weights", "recommend", "pr-curve", "loss", "explain"]


def focalmetrics_cli(target: str, *args: str, module: str = "focalmetrics"
                     ) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO / "client" / "python"))
    env.pop("FOCALMETRICS_TARGET", None)
    return subprocess.run([PYTHON, "-m", module, "--target", target, *args],
                          capture_output=True, text=True, env=env, timeout=120)


def table_rows(stdout: str, header: str) -> list[list[str]]:
    """The rows of the table whose header line starts with `header`, up to the
    next blank line, split on whitespace (at most 4 splits: the last column may
    hold spaces)."""
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.split()[:1] == [header])
    rows = []
    for line in lines[start + 1:]:
        if not line.strip() or line.startswith("("):
            break
        rows.append(line.split(None, 4))
    return rows


@pytest.fixture(scope="module")
def run(server: RunningServer, client: focalmetrics.Client) -> Iterator[str]:
    """RUN, holding one imbalanced multiclass epoch reported in two batches."""
    rng = np.random.default_rng(7)
    targets = rng.permutation(np.repeat(np.arange(4), POSITIVES)).astype(np.int64)
    scores = rng.normal(0, 1, (len(targets), 4)).astype(np.float32)
    scores[np.arange(len(targets)), targets] += 1.5
    half = len(targets) // 2
    for seq, rows in enumerate((slice(0, half), slice(half, None)), start=1):
        client.report(RUN, scores[rows], targets[rows], task="multiclass", worker="w", seq=seq,
                      step=seq, losses=["cross_entropy", "focal"])
    yield RUN
    client.delete_run(RUN)


@pytest.mark.parametrize("command", [[], *([c] for c in COMMANDS)])
def test_help_of_every_command_exits_0_with_an_example(command: list[str]) -> None:
    result = focalmetrics_cli("unused:1", *command, "--help")
    assert result.returncode == 0, result.stderr
    assert "example:" in result.stdout
    assert "focalmetrics " in result.stdout.split("example:")[1]


def test_cli_module_runs_directly() -> None:
    result = focalmetrics_cli("unused:1", "explain", module="focalmetrics.cli")
    assert result.returncode == 0, result.stderr
    assert "focal" in result.stdout


def test_runs_lists_the_reported_run(server: RunningServer, run: str) -> None:
    result = focalmetrics_cli(server.target, "runs")
    assert result.returncode == 0, result.stderr
    rows = {row[0]: row for row in table_rows(result.stdout, "run")}
    assert rows[run][1:] == ["train", "multiclass", "0", str(sum(POSITIVES))]


def test_metrics_shows_the_reported_counts_losses_and_pr_auc(
        server: RunningServer, client: focalmetrics.Client, run: str) -> None:
    result = focalmetrics_cli(server.target, "metrics", run)
    assert result.returncode == 0, result.stderr
    expected = client.metrics(run)
    assert f"samples {sum(POSITIVES)}  batches 2" in result.stdout

    classes = table_rows(result.stdout, "class")
    assert [int(row[1]) for row in classes] == POSITIVES
    assert [int(row[2]) for row in classes] == [sum(POSITIVES) - n for n in POSITIVES]
    for row, ap in zip(classes, expected.average_precision.per_class):
        if ap.defined:
            assert float(row[4]) == pytest.approx(ap.ap, rel=1e-5)
        else:
            assert row[4] == "n/a (no positives)"

    losses = {row[0]: row for row in table_rows(result.stdout, "name")}
    assert set(losses) == {"cross_entropy", "focal"}
    for stat in expected.losses:
        assert [float(v) for v in losses[stat.name][2:5]] == pytest.approx(
            [stat.last, stat.mean, stat.ema], rel=1e-5)

    assert "PR-AUC (exact)" in result.stdout
    pr_auc = result.stdout.split("PR-AUC (exact)")[1].split()
    ap = expected.average_precision
    assert pr_auc[0:6:2] == ["macro", "micro", "weighted"]
    assert [float(v) for v in pr_auc[1:6:2]] == pytest.approx(
        [ap.macro, ap.micro, ap.weighted], rel=1e-5)


def test_metrics_shows_certified_bounds_in_bounded_memory_mode() -> None:
    bounded = RunningServer("--run_memory_budget_mb=0")
    try:
        with focalmetrics.Client(bounded.target) as client:
            targets = np.array([0, 1, 0, 1, 1, 0, 0, 0], dtype=np.float32)
            scores = np.linspace(-1, 1, len(targets)).astype(np.float32)
            client.report("bounded", scores, targets, task="binary", worker="w", seq=1)
            ap = client.metrics("bounded").average_precision.per_class[0]
        result = focalmetrics_cli(bounded.target, "--digits", "17", "metrics", "bounded")
    finally:
        assert bounded.stop() == 0
    assert result.returncode == 0, result.stderr
    assert "bounded memory" in result.stdout
    row = table_rows(result.stdout, "class")[0]
    assert row[4] == f"{ap.ap:.17g} [{ap.lower:.17g}, {ap.upper:.17g}]"


@pytest.mark.parametrize("scheme", ["effective_number", "inverse_frequency",
                                    "inverse_sqrt_frequency"])
def test_weights_equal_the_client_class_weights(server: RunningServer,
                                                client: focalmetrics.Client, run: str,
                                                scheme: str) -> None:
    result = focalmetrics_cli(server.target, "weights", run, "--scheme", scheme,
                              "--beta", "0.99")
    assert result.returncode == 0, result.stderr
    expected = client.class_weights(run, scheme=scheme, beta=0.99)
    rows = table_rows(result.stdout, "class")
    assert [int(row[1]) for row in rows] == POSITIVES
    assert [float(row[2]) for row in rows] == pytest.approx(list(expected.weights), rel=1e-5)


def test_recommend_prints_the_servers_loss_reason_and_warnings(
        server: RunningServer, client: focalmetrics.Client, run: str) -> None:
    result = focalmetrics_cli(server.target, "recommend", run)
    assert result.returncode == 0, result.stderr
    recommendation = client.metrics(run).recommendation
    spec_line = next(line for line in result.stdout.splitlines()
                     if line.startswith("recommended loss: "))
    spec = json.loads(spec_line[len("recommended loss: "):])
    assert spec["kind"] == pb.LossKind.Name(
        recommendation.loss.kind)[len("LOSS_KIND_"):].lower()
    assert spec["class_alpha"] == pytest.approx(list(recommendation.loss.class_alpha))
    assert len(spec["class_alpha"]) == 4  # one per class of the run
    assert f"reason: {recommendation.reason}" in result.stdout
    assert recommendation.warnings
    for warning in recommendation.warnings:
        assert f"  - {warning}" in result.stdout


def test_pr_curve_writes_a_png_of_the_curve(server: RunningServer, client: focalmetrics.Client,
                                            run: str, tmp_path) -> None:
    from matplotlib.image import imread

    out = tmp_path / "curve.png"
    result = focalmetrics_cli(server.target, "pr-curve", run, "--class-id", "1",
                              "--max-points", "50", "--out", str(out))
    assert result.returncode == 0, result.stderr
    ap = client.metrics(run).average_precision.per_class[1].ap
    assert "class 1: " in result.stdout and f"AP {ap:.3f}" in result.stdout
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert out.stat().st_size > 10_000
    pixels = imread(str(out))
    assert pixels.shape[0] >= 300 and pixels.shape[1] >= 400
    colors = np.unique(pixels.reshape(-1, pixels.shape[2]), axis=0)
    assert len(colors) > 50  # a curve, text and axes, not a blank canvas


def test_pr_curve_of_a_class_without_positives_fails(server: RunningServer, run: str,
                                                     tmp_path) -> None:
    out = tmp_path / "empty.png"
    result = focalmetrics_cli(server.target, "pr-curve", run, "--class-id", "3",
                              "--out", str(out))
    assert result.returncode == 1
    assert "class 3 has no positives" in result.stderr
    assert not out.exists()


@pytest.fixture
def binary_arrays(tmp_path) -> tuple[np.ndarray, np.ndarray, str, str]:
    rng = np.random.default_rng(3)
    targets = (rng.random((400, 3)) < 0.1).astype(np.float32)
    scores = (rng.normal(-1, 1.5, targets.shape) + 2 * targets).astype(np.float32)
    np.save(tmp_path / "scores.npy", scores)
    np.save(tmp_path / "targets.npy", targets)
    return scores, targets, str(tmp_path / "scores.npy"), str(tmp_path / "targets.npy")


def loss_values(stdout: str) -> dict[str, float]:
    return {row[0]: float(row[3]) for row in table_rows(stdout, "loss")}


def test_loss_prints_what_compute_loss_returns(server: RunningServer,
                                               client: focalmetrics.Client,
                                               binary_arrays, tmp_path) -> None:
    scores, targets, scores_path, targets_path = binary_arrays
    gamma3 = {"kind": "focal", "gamma": 3, "name": "focal_g3"}
    result = focalmetrics_cli(server.target, "--digits", "17", "loss", "--scores", scores_path,
                              "--targets", targets_path, "--task", "binary", "--loss", "focal",
                              "--loss", json.dumps(gamma3), "--gradients-out",
                              str(tmp_path / "grad.npy"))
    assert result.returncode == 0, result.stderr
    expected = client.compute_loss(scores, targets, task="binary", losses=["focal", gamma3],
                                   return_gradients=True)
    assert loss_values(result.stdout) == {name: r.value for name, r in expected.items()}
    for name, r in expected.items():
        np.testing.assert_array_equal(np.load(tmp_path / f"grad.{name}.npy"), r.gradient)


def test_loss_in_chunks_matches_one_request(server: RunningServer, client: focalmetrics.Client,
                                            binary_arrays, tmp_path) -> None:
    scores, targets, scores_path, targets_path = binary_arrays
    result = focalmetrics_cli(server.target, "--digits", "17", "--progress", "always", "loss",
                              "--scores", scores_path, "--targets", targets_path,
                              "--task", "multilabel", "--loss", "focal", "--loss", "asymmetric",
                              "--chunk-mb", "0.001", "--gradients-out",
                              str(tmp_path / "grad.npy"))
    assert result.returncode == 0, result.stderr
    # 0.001 MiB holds 43 rows of 3 float32 scores and 3 float32 targets.
    assert "(sent in 10 requests" in result.stdout
    assert "100% 10/10" in result.stderr
    expected = client.compute_loss(scores, targets, task="multilabel",
                                   losses=["focal", "asymmetric"], return_gradients=True)
    got = loss_values(result.stdout)
    for name, r in expected.items():
        assert got[name] == pytest.approx(r.value, rel=1e-12)
        np.testing.assert_allclose(np.load(tmp_path / f"grad.{name}.npy"), r.gradient,
                                   rtol=1e-12, atol=1e-18)


def test_loss_refuses_to_split_a_whole_batch_loss(server: RunningServer, binary_arrays) -> None:
    _, _, scores_path, targets_path = binary_arrays
    result = focalmetrics_cli(server.target, "loss", "--scores", scores_path, "--targets",
                              targets_path, "--task", "binary", "--loss", "ohem",
                              "--chunk-mb", "0.001")
    assert result.returncode == 2
    assert "--loss ohem" in result.stderr and "--chunk-mb" in result.stderr


def test_explain_shows_the_focal_factor_and_the_batch_shares() -> None:
    result = focalmetrics_cli("unused:1", "explain", "--gamma", "2", "--alpha", "0.25")
    assert result.returncode == 0, result.stderr
    rows = {row[0]: row for row in table_rows(result.stdout, "p_t")}
    p_t, kind, cross_entropy, factor, rest = rows["0.9"]
    assert (kind, factor) == ("easy", "0.01")
    assert float(cross_entropy) == pytest.approx(-np.log(0.9), rel=1e-5)
    assert float(rest.split()[0]) == pytest.approx(0.01 * -np.log(0.9), rel=1e-5)
    assert rest.split()[1] == "100x"
    assert rows["0.1"][1:4] == ["hard", f"{-np.log(0.1):.6g}", "0.81"]
    # 1000 easy at 0.9 against 10 hard at 0.1: 82.1% of CE, 5.3% of focal.
    assert "easy examples carry 82.1% of the cross-entropy but 5.3% of the focal loss" \
        in result.stdout


def test_explain_takes_a_gamma_preset() -> None:
    by_name = focalmetrics_cli("unused:1", "explain", "--gamma", "extreme_imbalance")
    by_number = focalmetrics_cli("unused:1", "explain", "--gamma", "5")
    assert by_name.returncode == 0, by_name.stderr
    assert by_name.stdout == by_number.stdout
    factor = {row[0]: row[3] for row in table_rows(by_name.stdout, "p_t")}["0.9"]
    assert float(factor) == pytest.approx(0.1 ** 5, rel=1e-3)  # (1 - p_t)^5
    wrong = focalmetrics_cli("unused:1", "explain", "--gamma", "huge")
    assert wrong.returncode == 2
    assert "--gamma: 'huge' is neither a number nor a preset" in wrong.stderr
    assert "medical_rare_disease = 3" in wrong.stderr


def test_delete_removes_a_run_and_says_when_there_is_none(
        server: RunningServer, client: focalmetrics.Client) -> None:
    for split in ("train", "val"):
        client.report("to-delete", np.zeros(2, np.float32), np.array([1, 0], np.float32),
                      task="binary", worker="w", seq=1, split=split)
    one = focalmetrics_cli(server.target, "delete", "to-delete", "--split", "val")
    assert one.returncode == 0, one.stderr
    assert one.stdout.strip() == "deleted split 'val' of run 'to-delete' (1 split)"
    assert {(r.run, r.split) for r in client.list_runs()} >= {("to-delete", "train")}
    assert ("to-delete", "val") not in {(r.run, r.split) for r in client.list_runs()}
    rest = focalmetrics_cli(server.target, "delete", "to-delete")
    assert rest.returncode == 0 and "(1 split)" in rest.stdout
    assert "to-delete" not in {r.run for r in client.list_runs()}
    again = focalmetrics_cli(server.target, "delete", "to-delete")
    assert again.returncode == 1
    assert f"no run 'to-delete' on {server.target}" in again.stderr


def test_unknown_run_is_a_server_error_naming_the_run(server: RunningServer) -> None:
    result = focalmetrics_cli(server.target, "metrics", "no-such-run")
    assert result.returncode == 1
    assert "NOT_FOUND" in result.stderr and "'no-such-run'" in result.stderr
    assert result.stdout == ""


def test_unreachable_server_exits_1_with_a_hint() -> None:
    result = focalmetrics_cli("127.0.0.1:1", "--timeout", "5", "runs")
    assert result.returncode == 1
    assert "UNAVAILABLE" in result.stderr and "--target" in result.stderr


@pytest.mark.parametrize("args, message", [
    (["pr-curve", RUN], "--out"),
    (["loss", "--scores", "missing.npy", "--targets", "missing.npy", "--task", "binary"],
     "no such file"),
    (["explain", "--gamma", "-1"], "--gamma"),
    (["metrics"], "run"),
])
def test_usage_errors_exit_2(args: list[str], message: str) -> None:
    result = focalmetrics_cli("unused:1", *args)
    assert result.returncode == 2
    assert message in result.stderr
