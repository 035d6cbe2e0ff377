"""The server's operational surface: health, reflection, an unknown run,
--help, and a clean SIGTERM."""

from __future__ import annotations

import subprocess
from typing import Any

import grpc
import numpy as np
import pytest

from conftest import RunningServer, server_binary
from focalmetrics._proto import pb, pb_grpc

HEALTH_CHECK = "/grpc.health.v1.Health/Check"
REFLECTION = "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"
SERVING = b"\x08\x01"  # HealthCheckResponse{status: SERVING}


def health_check(target: str, service: str = "") -> bytes:
    with grpc.insecure_channel(target) as channel:
        check = channel.unary_unary(HEALTH_CHECK)
        # HealthCheckRequest{service}: field 1, length-delimited.
        request = (b"\x0a" + bytes([len(service)]) + service.encode()) if service else b""
        return check(request, timeout=10)


def test_health_is_serving(server: RunningServer) -> None:
    assert health_check(server.target) == SERVING
    assert health_check(server.target, "focalmetrics.v1.FocalMetrics") == SERVING


def test_reflection_lists_the_service(server: RunningServer) -> None:
    with grpc.insecure_channel(server.target) as channel:
        info = channel.stream_stream(REFLECTION)
        # ServerReflectionRequest{list_services: ""}: field 7.
        responses = list(info(iter([b"\x3a\x00"]), timeout=10))
    assert b"focalmetrics.v1.FocalMetrics" in responses[0]
    assert b"grpc.health.v1.Health" in responses[0]


def test_unknown_run_is_not_found(server: RunningServer) -> None:
    with grpc.insecure_channel(server.target) as channel:
        stub = pb_grpc.FocalMetricsStub(channel)
        with pytest.raises(grpc.RpcError) as raised:
            stub.GetMetrics(pb.GetMetricsRequest(run="no-such-run"), timeout=10)
        assert raised.value.code() == grpc.StatusCode.NOT_FOUND
        assert "no run 'no-such-run' with split 'train'" in raised.value.details()
        # ... and the server is still serving.
        assert health_check(server.target) == SERVING


def test_help_describes_the_flags() -> None:
    out = subprocess.run([str(server_binary()), "--help"], capture_output=True, text=True,
                         timeout=30)
    text = out.stdout + out.stderr
    for flag in ("--host", "--port", "--max_message_mb", "--drain_deadline"):
        assert flag in text
    assert "focalmetrics.Client" in text


def test_sigterm_stops_cleanly() -> None:
    running = RunningServer()
    import focalmetrics

    with focalmetrics.Client(running.target) as client:
        value = client.compute_loss(np.zeros(3, np.float32), np.ones(3, np.float32),
                                    task="binary", losses="cross_entropy")
    assert float(value["cross_entropy"]) == pytest.approx(np.log(2.0))
    assert running.stop() == 0
    assert any("stopped" in line for line in running.log)


def test_torch_tensors_with_grad_and_cuda_when_present(client: Any) -> None:
    import torch

    scores = torch.randn(6, 4, requires_grad=True)
    targets = torch.tensor([0, 1, 2, 3, 0, 1])
    out = client.compute_loss(scores, targets, task="multiclass", losses="cross_entropy")
    expected = torch.nn.functional.cross_entropy(scores.double(), targets).item()
    assert out["cross_entropy"].value == pytest.approx(expected, rel=1e-6)
    if torch.cuda.is_available():
        out = client.compute_loss(scores.cuda(), targets.cuda(), task="multiclass",
                                  losses="cross_entropy")
        assert out["cross_entropy"].value == pytest.approx(expected, rel=1e-6)
