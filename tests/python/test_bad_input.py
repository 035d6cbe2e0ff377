"""Each bad request is rejected with a clear message naming the field, changes
nothing, and the server answers a valid request right after it."""

from __future__ import annotations

import math
from typing import Any, Callable

import grpc
import numpy as np
import pytest

from focalmetrics._proto import pb, pb_grpc


def f32(values: list[float]) -> bytes:
    return np.array(values, dtype="<f4").tobytes()


def valid_request() -> pb.ComputeLossRequest:
    return pb.ComputeLossRequest(
        batch=pb.Batch(
            task=pb.TASK_BINARY,
            scores=pb.Tensor(shape=[4], dtype=pb.DTYPE_FLOAT32, data=f32([2, -1, 0.5, 3])),
            targets=pb.Tensor(shape=[4], dtype=pb.DTYPE_FLOAT32, data=f32([1, 0, 1, 1]))),
        losses=[pb.LossSpec(kind=pb.LOSS_KIND_CROSS_ENTROPY)])


def multiclass_request() -> pb.ComputeLossRequest:
    return pb.ComputeLossRequest(
        batch=pb.Batch(
            task=pb.TASK_MULTICLASS,
            scores=pb.Tensor(shape=[2, 3], dtype=pb.DTYPE_FLOAT32, data=f32([0] * 6)),
            targets=pb.Tensor(shape=[2], dtype=pb.DTYPE_INT64,
                              data=np.array([0, 5], dtype="<i8").tobytes())),
        losses=[pb.LossSpec(kind=pb.LOSS_KIND_FOCAL)])


def expected_bce() -> float:
    x = np.array([2, -1, 0.5, 3], dtype=np.float64)
    t = np.array([1, 0, 1, 1], dtype=np.float64)
    return float(np.mean(np.maximum(x, 0) - x * t + np.log1p(np.exp(-np.abs(x)))))


def mutate(change: Callable[[pb.ComputeLossRequest], None]) -> pb.ComputeLossRequest:
    request = valid_request()
    change(request)
    return request


BAD_REQUESTS: list[tuple[str, Any, grpc.StatusCode, str]] = [
    ("shape_mismatch",
     mutate(lambda r: (r.batch.targets.shape.__setitem__(0, 2),
                       setattr(r.batch.targets, "data", f32([1, 0])))),
     grpc.StatusCode.INVALID_ARGUMENT, "batch.targets.shape: expected [4]"),
    ("length_mismatch", mutate(lambda r: setattr(r.batch.scores, "data", f32([1, 2, 3]))),
     grpc.StatusCode.INVALID_ARGUMENT, "batch.scores.data: 12 bytes for shape [4] of FLOAT32"),
    ("integer_scores",
     mutate(lambda r: (setattr(r.batch.scores, "dtype", pb.DTYPE_INT32))),
     grpc.StatusCode.INVALID_ARGUMENT, "batch.scores.dtype: scores must be"),
    ("nan_scores", mutate(lambda r: setattr(r.batch.scores, "data", f32([1, math.nan, 0, 0]))),
     grpc.StatusCode.INVALID_ARGUMENT, "batch.scores: element 1 is nan"),
    ("inf_scores", mutate(lambda r: setattr(r.batch.scores, "data", f32([1, 0, 0, -math.inf]))),
     grpc.StatusCode.INVALID_ARGUMENT, "batch.scores: element 3 is -inf"),
    ("binary_target_out_of_range",
     mutate(lambda r: setattr(r.batch.targets, "data", f32([1, 0, 2, 1]))),
     grpc.StatusCode.INVALID_ARGUMENT, "batch.targets: element 2 is 2"),
    ("class_id_out_of_range", multiclass_request(),
     grpc.StatusCode.INVALID_ARGUMENT, "batch.targets: element 1 is 5, outside [0, 3)"),
    ("unknown_task", mutate(lambda r: setattr(r.batch, "task", 42)),
     grpc.StatusCode.INVALID_ARGUMENT, "batch.task: unknown value 42"),
    ("unset_task", mutate(lambda r: setattr(r.batch, "task", 0)),
     grpc.StatusCode.INVALID_ARGUMENT, "batch.task: TASK_UNSPECIFIED"),
    ("unknown_dtype", mutate(lambda r: setattr(r.batch.targets, "dtype", 77)),
     grpc.StatusCode.INVALID_ARGUMENT, "batch.targets.dtype: unknown value 77"),
    ("unknown_loss_kind", mutate(lambda r: setattr(r.losses[0], "kind", 99)),
     grpc.StatusCode.INVALID_ARGUMENT, "losses[0].kind: unknown value 99"),
    ("unknown_reduction", mutate(lambda r: setattr(r.losses[0], "reduction", 9)),
     grpc.StatusCode.INVALID_ARGUMENT, "losses[0].reduction: unknown value 9"),
    ("loss_does_not_apply",
     mutate(lambda r: setattr(r.losses[0], "kind", pb.LOSS_KIND_RETINANET)),
     grpc.StatusCode.INVALID_ARGUMENT,
     "losses[0].kind: LOSS_KIND_RETINANET does not apply to TASK_BINARY"),
    ("bad_parameter",
     mutate(lambda r: (setattr(r.losses[0], "kind", pb.LOSS_KIND_FOCAL),
                       setattr(r.losses[0], "gamma", -1.0))),
     grpc.StatusCode.INVALID_ARGUMENT, "losses[0].gamma: must lie in [0, inf), got -1"),
    ("missing_batch", mutate(lambda r: r.ClearField("batch")),
     grpc.StatusCode.INVALID_ARGUMENT, "batch: missing"),
    ("missing_scores", mutate(lambda r: r.batch.ClearField("scores")),
     grpc.StatusCode.INVALID_ARGUMENT, "batch.scores: missing"),
    ("no_losses", mutate(lambda r: r.ClearField("losses")),
     grpc.StatusCode.INVALID_ARGUMENT, "losses: empty"),
    ("oversized_message",
     mutate(lambda r: (r.batch.scores.shape.__setitem__(0, 2_000_000),
                       r.batch.targets.shape.__setitem__(0, 2_000_000),
                       setattr(r.batch.scores, "data", f32([0.0] * 2_000_000)),
                       setattr(r.batch.targets, "data", f32([0.0] * 2_000_000)))),
     grpc.StatusCode.RESOURCE_EXHAUSTED, "larger than max"),
]


@pytest.fixture(scope="module")
def stub(server: Any) -> Any:
    channel = grpc.insecure_channel(server.target)
    yield pb_grpc.FocalMetricsStub(channel)
    channel.close()


@pytest.mark.parametrize("name,request_,code,message", BAD_REQUESTS,
                         ids=[b[0] for b in BAD_REQUESTS])
def test_rejected_then_serving(stub: Any, name: str, request_: Any, code: grpc.StatusCode,
                               message: str) -> None:
    with pytest.raises(grpc.RpcError) as raised:
        stub.ComputeLoss(request_, timeout=30)
    assert raised.value.code() == code, raised.value.details()
    assert message in raised.value.details()
    response = stub.ComputeLoss(valid_request(), timeout=30)
    # float32 scores are computed in float32 lanes (docs/losses.md): ~1e-7.
    assert response.results[0].value == pytest.approx(expected_bce(), rel=1e-6)


def test_client_raises_a_clear_error(client: Any) -> None:
    import focalmetrics

    with pytest.raises(focalmetrics.FocalMetricsError) as raised:
        client.compute_loss(np.zeros((2, 3), np.float32), np.array([0, 3]), task="multiclass",
                            losses="cross_entropy")
    assert raised.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "batch.targets: element 1 is 3, outside [0, 3)" in str(raised.value)
    with pytest.raises(ValueError, match="task: unknown 'binry'"):
        client.compute_loss(np.zeros(2, np.float32), np.zeros(2, np.float32), task="binry")
    with pytest.raises(ValueError, match="unknown fields"):
        client.compute_loss(np.zeros(2, np.float32), np.zeros(2, np.float32), task="binary",
                            losses={"kind": "focal", "gama": 2})
