"""A real Prometheus (Debian's package) scraping a focalmetrics-server every
second, on a free loopback port, for the end-to-end tests."""

from __future__ import annotations

import json
import pathlib
import socket
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request
from typing import Any, Callable

REPO = pathlib.Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Prometheus:
    def __init__(self, metrics_url: str) -> None:
        target = urllib.parse.urlparse(metrics_url).netloc
        self._dir = tempfile.TemporaryDirectory()
        config = pathlib.Path(self._dir.name) / "prometheus.yml"
        source = (REPO / "deploy" / "prometheus" / "prometheus.yml").read_text()
        config.write_text(
            source.replace("localhost:9464", target)
            .replace("scrape_interval: 15s", "scrape_interval: 1s")
            .replace("evaluation_interval: 15s", "evaluation_interval: 1s")
            .replace("- alerts.yml", f"- {REPO / 'deploy' / 'prometheus' / 'alerts.yml'}"))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._log = open(pathlib.Path(self._dir.name) / "prometheus.log", "w")
        self.process = subprocess.Popen(
            ["prometheus", f"--config.file={config}",
             f"--storage.tsdb.path={self._dir.name}/data",
             f"--web.listen-address=127.0.0.1:{self.port}"],
            stdout=self._log, stderr=subprocess.STDOUT)
        self.wait_for(lambda: self._ready(), "Prometheus ready", timeout=60)
        self.wait_for(lambda: self._target_up(), "focalmetrics target up", timeout=60)

    def _get(self, path: str, **params: str) -> Any:
        query = urllib.parse.urlencode(params)
        with urllib.request.urlopen(f"{self.url}{path}?{query}", timeout=10) as response:
            return json.load(response)

    def _ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as response:
                return response.status == 200
        except OSError:
            return False

    def _target_up(self) -> bool:
        targets = self._get("/api/v1/targets")["data"]["activeTargets"]
        return any(t["health"] == "up" for t in targets)

    def query(self, expr: str) -> list[dict[str, Any]]:
        """An instant query's result vector (or scalar, as one sample)."""
        data = self._get("/api/v1/query", query=expr)["data"]
        if data["resultType"] == "scalar":
            return [{"metric": {}, "value": data["result"]}]
        return data["result"]

    def wait_for(self, condition: Callable[[], bool], what: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if condition():
                    return
            except OSError:
                pass
            time.sleep(0.25)
        raise TimeoutError(f"{what} within {timeout} s")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)
        self._log.close()
        self._dir.cleanup()
