"""Fixtures: a real focalmetrics-server on a free loopback port, stopped by the test."""

from __future__ import annotations

import os
import pathlib
import re
import signal
import subprocess
import sys
import threading
from typing import Callable, Iterator, Optional

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "client" / "python"))


def server_binary() -> pathlib.Path:
    build = pathlib.Path(os.environ.get("FM_BUILD_DIR", REPO / "build"))
    return build / "server" / "focalmetrics-server"


class RunningServer:
    """A focalmetrics-server process; `target` is its gRPC host:port,
    `metrics_url` its Prometheus endpoint (both on free loopback ports)."""

    def __init__(self, *flags: str, port: int = 0,
                 preexec_fn: Optional[Callable[[], None]] = None) -> None:
        self.process = subprocess.Popen(
            [str(server_binary()), "--host=127.0.0.1", f"--port={port}", "--metrics_port=0",
             *flags],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, preexec_fn=preexec_fn)
        self.log: list[str] = []
        listening = threading.Event()
        self.target: Optional[str] = None
        self.metrics_url: Optional[str] = None

        def read_log() -> None:
            assert self.process.stderr is not None
            for line in self.process.stderr:
                self.log.append(line)
                metrics = re.search(r"metrics on (\S+)", line)
                if metrics:
                    self.metrics_url = metrics.group(1)
                match = re.search(r"listening on (\S+)", line)
                if match:
                    self.target = match.group(1)
                    listening.set()
            listening.set()

        self._reader = threading.Thread(target=read_log, daemon=True)
        self._reader.start()
        if not listening.wait(timeout=30) or self.target is None:
            self.process.kill()
            raise RuntimeError("focalmetrics-server did not start:\n" + "".join(self.log))

    def kill(self) -> None:
        """kill -9: no drain, no final snapshot."""
        self.process.kill()
        self.process.wait(timeout=30)
        self._reader.join(timeout=5)

    def stop(self, timeout: float = 30) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=timeout)
        self._reader.join(timeout=5)
        return code


@pytest.fixture(scope="module")
def server() -> Iterator[RunningServer]:
    running = RunningServer("--max_message_mb=4")
    yield running
    assert running.stop() == 0, "".join(running.log)


@pytest.fixture(scope="module")
def client(server: RunningServer):
    import focalmetrics

    with focalmetrics.Client(server.target) as c:
        yield c
