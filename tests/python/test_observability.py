"""End to end: focalmetrics-server, a real Prometheus scraping it, and
streaming clients. What GetMetrics says is what Prometheus stores; every
dashboard query returns data; promtool finds nothing wrong in a scrape;
cardinality stays bounded; deleted runs' series go away."""

from __future__ import annotations

import json
import pathlib
import re
import subprocess
import urllib.request
from typing import Any, Iterator

import numpy as np
import pytest

import focalmetrics
from conftest import RunningServer
from focalmetrics._proto import pb
from prometheus_server import Prometheus

REPO = pathlib.Path(__file__).resolve().parents[2]
DASHBOARD = REPO / "deploy" / "grafana" / "dashboards" / "focalmetrics.json"
MAX_CLASS_LABELS = 8


@pytest.fixture(scope="module")
def stack() -> Iterator[tuple[RunningServer, Prometheus]]:
    server = RunningServer(f"--max_class_labels={MAX_CLASS_LABELS}")
    prometheus = Prometheus(server.metrics_url)
    yield server, prometheus
    prometheus.stop()
    assert server.stop() == 0


def stream(client: focalmetrics.Client, run: str, classes: int, batches: int, seed: int,
           epoch: int = 0) -> None:
    rng = np.random.default_rng(seed)
    shares = 0.5 ** np.arange(classes)
    shares /= shares.sum()

    def requests() -> Iterator[pb.ReportRequest]:
        for seq in range(1, batches + 1):
            labels = rng.choice(classes, size=256, p=shares)
            logits = rng.normal(0, 1, (256, classes)).astype(np.float32)
            logits[np.arange(256), labels] += 1.5
            yield pb.ReportRequest(
                run=run, worker="w0", seq=seq, step=seq * 10, epoch=epoch,
                batch=client.batch(logits, labels, task="multiclass"),
                losses=[pb.LossSpec(kind=pb.LOSS_KIND_CROSS_ENTROPY),
                        pb.LossSpec(kind=pb.LOSS_KIND_FOCAL)])
        # A bad batch: rejected in its ack, counted as rejected.
        yield pb.ReportRequest(run=run, worker="w0", seq=batches + 1,
                               batch=client.batch(np.zeros((1, classes), np.float32),
                                                  np.array([classes]), task="multiclass"))

    acks = list(client.stream_reports(requests(), timeout=60))
    assert sum(a.HasField("error") for a in acks) == 1


def value(prometheus: Prometheus, expr: str) -> float:
    result = prometheus.query(expr)
    assert len(result) == 1, (expr, result)
    return float(result[0]["value"][1])


def scrape(server: RunningServer) -> str:
    with urllib.request.urlopen(server.metrics_url, timeout=10) as response:
        return response.read().decode()


@pytest.fixture(scope="module")
def reported(stack: tuple[RunningServer, Prometheus]) -> tuple[RunningServer, Prometheus]:
    server, prometheus = stack
    with focalmetrics.Client(server.target) as client:
        stream(client, "e2e-a", classes=5, batches=20, seed=1)
        stream(client, "e2e-b", classes=12, batches=10, seed=2, epoch=3)
        with pytest.raises(focalmetrics.FocalMetricsError):
            client.compute_loss(np.zeros(2, np.float32), np.array([2.0, 0.0], np.float32),
                                task="binary")
        metrics = client.metrics("e2e-a")
    # Wait until Prometheus has scraped the final state.
    prometheus.wait_for(
        lambda: prometheus.query('focalmetrics_samples_total{run="e2e-a"}')
        and float(prometheus.query('focalmetrics_samples_total{run="e2e-a"}')[0]["value"][1])
        == metrics.samples, "final samples scraped")
    # rate() over the dashboards' windows needs a few scrapes of the series.
    prometheus.wait_for(lambda: bool(prometheus.query(
        "rate(focalmetrics_received_bytes_total[1m]) > 0")), "a rate", timeout=30)
    return stack


def test_every_run_metric_arrives_with_the_values_of_get_metrics(
        reported: tuple[RunningServer, Prometheus]) -> None:
    server, prometheus = reported
    with focalmetrics.Client(server.target) as client:
        metrics = client.metrics("e2e-a")
        weights = client.class_weights("e2e-a", scheme="inverse_sqrt_frequency")
    sel = 'run="e2e-a",split="train"'
    assert value(prometheus, f"focalmetrics_samples_total{{{sel}}}") == metrics.samples
    assert value(prometheus, f"focalmetrics_batches_total{{{sel}}}") == metrics.batches == 20
    assert value(prometheus, f"focalmetrics_epoch{{{sel}}}") == metrics.epoch
    assert value(prometheus, f"focalmetrics_step{{{sel}}}") == metrics.step
    for loss in metrics.losses:
        assert value(prometheus, f'focalmetrics_loss{{{sel},loss="{loss.name}"}}') == \
            pytest.approx(loss.mean, rel=1e-12)
        assert value(prometheus, f'focalmetrics_loss_last{{{sel},loss="{loss.name}"}}') == \
            pytest.approx(loss.last, rel=1e-12)
    ap = metrics.average_precision
    for average in ("macro", "micro", "weighted"):
        assert value(prometheus, f'focalmetrics_pr_auc{{{sel},average="{average}"}}') == \
            pytest.approx(getattr(ap, average), rel=1e-12)
    for c in ap.per_class:
        if c.defined:
            assert value(prometheus, f'focalmetrics_class_pr_auc{{{sel},class="{c.class_id}"}}') \
                == pytest.approx(c.ap, rel=1e-12)
    for class_id, (count, weight) in enumerate(zip(weights.samples_per_class, weights.weights)):
        assert value(prometheus,
                     f'focalmetrics_class_positives_total{{{sel},class="{class_id}"}}') == count
        assert value(prometheus, f'focalmetrics_class_weight{{{sel},class="{class_id}"}}') == \
            pytest.approx(weight, rel=1e-12)
    loss_kind = pb.LossKind.Name(metrics.recommendation.loss.kind)[len("LOSS_KIND_"):].lower()
    assert prometheus.query(f'focalmetrics_recommendation_info{{{sel},loss="{loss_kind}"}}')


def test_server_metrics_arrive(reported: tuple[RunningServer, Prometheus]) -> None:
    _, prometheus = reported
    assert value(prometheus, 'focalmetrics_rpc_duration_seconds_count{method="StreamReports"}') >= 2
    assert value(prometheus, 'focalmetrics_rpc_errors_total{method="ComputeLoss",'
                             'code="invalid_argument"}') == 1
    assert value(prometheus, 'focalmetrics_rejected_batches_total{reason="invalid_argument"}') == 2
    assert value(prometheus, "focalmetrics_received_bytes_total") > 30 * 256 * 4
    assert value(prometheus, "focalmetrics_active_streams") == 0
    assert value(prometheus, "focalmetrics_runs") == 2
    assert prometheus.query('focalmetrics_build_info{version=~".+"}')


def test_every_dashboard_query_returns_data(reported: tuple[RunningServer, Prometheus]) -> None:
    _, prometheus = reported
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] == "focalmetrics-runs"
    variables = {v["name"] for v in dashboard["templating"]["list"]}
    assert {"datasource", "run", "split"} <= variables
    for template in dashboard["templating"]["list"]:
        if template["type"] == "query":
            label_query = template["query"]["query"].replace("$run", "e2e-a")
            metric = re.match(r"label_values\((.*), (\w+)\)", label_query)
            assert metric, label_query
            assert prometheus.query(metric.group(1)), label_query
    checked = 0
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        for target in panel["targets"]:
            expr = target["expr"].replace("$run", "e2e-a").replace("$split", "train")
            # rate() needs two scrapes of a series: give them a few seconds.
            prometheus.wait_for(lambda: bool(prometheus.query(expr)),
                                f"{panel['title']}: {expr} to return data", timeout=20)
            checked += 1
    assert checked >= 15


def test_promtool_finds_nothing_and_cardinality_is_bounded(
        reported: tuple[RunningServer, Prometheus]) -> None:
    server, _ = reported
    with focalmetrics.Client(server.target) as client:
        for r in range(10):
            stream(client, f"wide-{r}", classes=100, batches=2, seed=10 + r)
        text = scrape(server)
        check = subprocess.run(["promtool", "check", "metrics"], input=text,
                               capture_output=True, text=True, timeout=60)
        assert check.returncode == 0 and not (check.stdout + check.stderr).strip(), \
            check.stdout + check.stderr
        # docs/observability.md: per run at most 12 + 2 x losses + 3 x
        # max_class_labels series; server series are per method and code.
        samples = [line for line in text.splitlines() if line and not line.startswith("#")]
        run_series = [line for line in samples if 'run="' in line]
        runs = len(client.list_runs())
        assert len(run_series) <= runs * (12 + 2 * 2 + 3 * MAX_CLASS_LABELS)
        assert not any('class="50"' in line for line in run_series)
        for r in range(10):
            assert client.delete_run(f"wide-{r}") == 1


def test_deleting_a_run_removes_its_series(reported: tuple[RunningServer, Prometheus]) -> None:
    server, prometheus = reported
    with focalmetrics.Client(server.target) as client:
        stream(client, "short-lived", classes=3, batches=2, seed=5)
        prometheus.wait_for(lambda: bool(prometheus.query(
            'focalmetrics_samples_total{run="short-lived"}')), "the run scraped")
        assert client.delete_run("short-lived") == 1
    assert 'run="short-lived"' not in scrape(server)
    prometheus.wait_for(lambda: not prometheus.query('{run="short-lived"}'),
                        "the run's series gone", timeout=10)
