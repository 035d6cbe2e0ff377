"""The synchronous client: one call per RPC, numpy and torch in, numpy out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Sequence, Union

import grpc
import numpy as np

from focalmetrics._proto import pb, pb_grpc
from focalmetrics._specs import LossLike, enum_value, loss_specs
from focalmetrics._tensors import from_float64_tensor, to_tensor

# The metadata key that names a call's run (lower case, as gRPC requires).
RUN_HEADER = "x-focalmetrics-run"

# Responses carry per-element values and gradients: allow large ones.
_MAX_RECEIVE_BYTES = 1 << 30


class FocalMetricsError(Exception):
    """A call the server rejected. `code` is the grpc.StatusCode; the message
    names the offending field (e.g. "batch.targets: element 3 is 7, outside
    [0, 5)")."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(f"{code.name}: {message}")
        self.code = code
        self.message = message


@dataclass(frozen=True)
class LossResult:
    """One loss on one batch. `values` is set for reduction "none", `gradient`
    (d value / d scores, shaped as the scores) when asked for."""

    name: str
    kind: str
    value: float
    values: Optional[np.ndarray] = None
    gradient: Optional[np.ndarray] = None

    def __float__(self) -> float:
        return self.value


class Client:
    """A connection to a focalmetrics server.

        with focalmetrics.Client("localhost:50051") as client:
            out = client.compute_loss(logits, labels, losses=["cross_entropy", "focal"],
                                      task="multiclass")
            out["focal"].value
    """

    def __init__(self, target: str, *, timeout: float = 30.0,
                 channel: Optional[grpc.Channel] = None) -> None:
        self._channel = channel or grpc.insecure_channel(
            target, options=[("grpc.max_receive_message_length", _MAX_RECEIVE_BYTES),
                             ("grpc.max_send_message_length", -1)])
        self._stub = pb_grpc.FocalMetricsStub(self._channel)
        self._timeout = timeout

    def compute_loss(
        self,
        scores: Any,
        targets: Any,
        *,
        task: Union[str, int],
        losses: Union[LossLike, Sequence[LossLike]] = "focal",
        input_kind: Union[str, int] = "logits",
        ignore_index: Optional[int] = None,
        box_preds: Any = None,
        box_targets: Any = None,
        return_gradients: bool = False,
        run: str = "",
        split: str = "",
        timeout: Optional[float] = None,
    ) -> dict[str, LossResult]:
        """Computes `losses` on one batch; returns them by name, in request order.

        scores, targets: numpy arrays or torch tensors (CPU or CUDA), sent in
        their own dtype. task: "binary", "multiclass", "multilabel" or
        "detection". losses: kind names ("focal"), dicts of LossSpec fields
        ({"kind": "focal", "gamma": 3, "name": "focal_g3"}) or LossSpec messages.
        Raises FocalMetricsError when the server rejects the request.
        """
        batch = self.batch(scores, targets, task=task, input_kind=input_kind,
                           ignore_index=ignore_index, box_preds=box_preds,
                           box_targets=box_targets)
        request = pb.ComputeLossRequest(batch=batch, losses=loss_specs(losses), run=run,
                                        split=split, return_gradients=return_gradients)
        response = self._call(self._stub.ComputeLoss, request, timeout)
        results: dict[str, LossResult] = {}
        for result in response.results:
            results[result.name] = LossResult(
                name=result.name,
                kind=pb.LossKind.Name(result.kind)[len("LOSS_KIND_"):].lower(),
                value=result.value,
                values=from_float64_tensor(result.values) if result.HasField("values") else None,
                gradient=(from_float64_tensor(result.gradient)
                          if result.HasField("gradient") else None),
            )
        return results

    def batch(self, scores: Any, targets: Any, *, task: Union[str, int],
              input_kind: Union[str, int] = "logits", ignore_index: Optional[int] = None,
              box_preds: Any = None, box_targets: Any = None) -> "pb.Batch":
        """A Batch message from arrays or tensors (see compute_loss)."""
        batch = pb.Batch(
            task=enum_value(pb.Task, "TASK_", task, "task"),
            input_kind=enum_value(pb.InputKind, "INPUT_KIND_", input_kind, "input_kind"),
            scores=to_tensor(scores, "scores"),
            targets=to_tensor(targets, "targets"),
        )
        if ignore_index is not None:
            batch.ignore_index = int(ignore_index)
        if box_preds is not None:
            batch.box_preds.CopyFrom(to_tensor(box_preds, "box_preds"))
        if box_targets is not None:
            batch.box_targets.CopyFrom(to_tensor(box_targets, "box_targets"))
        return batch

    def report(self, run: str, scores: Any, targets: Any, *, task: Union[str, int],
               worker: str, seq: int, step: int = 0, epoch: int = 0, split: str = "",
               losses: Union[LossLike, Sequence[LossLike]] = (),
               timeout: Optional[float] = None, **batch_fields: Any) -> "pb.ReportAck":
        """Folds one batch into `run` (unary Report). (worker, seq) makes it
        idempotent: seq starts at 1 per worker; a repeat is acked as duplicate."""
        request = pb.ReportRequest(
            run=run, split=split, worker=worker, seq=seq, step=step, epoch=epoch,
            batch=self.batch(scores, targets, task=task, **batch_fields),
            losses=loss_specs(losses) if losses else [])
        return self._call(self._stub.Report, request, timeout)

    def stream_reports(self, requests: Any, timeout: Optional[float] = None) -> Any:
        """StreamReports: yields one ReportAck per ReportRequest, in order. A bad
        batch's ack has `error` set; the stream goes on."""
        try:
            yield from self._stub.StreamReports(
                requests, timeout=self._timeout if timeout is None else timeout)
        except grpc.RpcError as error:
            raise FocalMetricsError(error.code(), error.details()) from None

    def metrics(self, run: str, split: str = "", epoch: Optional[int] = None,
                timeout: Optional[float] = None) -> "pb.RunMetrics":
        """GetMetrics: the current epoch's metrics, or a closed epoch's."""
        request = pb.GetMetricsRequest(run=run, split=split)
        if epoch is not None:
            request.epoch = epoch
        return self._call(self._stub.GetMetrics, request, timeout)

    def class_weights(self, run: str, split: str = "",
                      scheme: Union[str, int] = "effective_number",
                      beta: Optional[float] = None,
                      timeout: Optional[float] = None) -> "pb.ClassWeights":
        """GetClassWeights from the run's accumulated class counts."""
        request = pb.GetClassWeightsRequest(
            run=run, split=split,
            scheme=enum_value(pb.WeightScheme, "WEIGHT_SCHEME_", scheme, "scheme"))
        if beta is not None:
            request.beta = beta
        return self._call(self._stub.GetClassWeights, request, timeout)

    def precision_recall_curve(self, run: str, class_id: int = 0, split: str = "",
                               max_points: int = 0,
                               timeout: Optional[float] = None) -> "pb.PrecisionRecallCurve":
        """GetPrecisionRecallCurve of one class (thresholds are probabilities)."""
        request = pb.GetPrecisionRecallCurveRequest(run=run, split=split, class_id=class_id,
                                                    max_points=max_points)
        return self._call(self._stub.GetPrecisionRecallCurve, request, timeout)

    def list_runs(self, timeout: Optional[float] = None) -> list["pb.RunSummary"]:
        return list(self._call(self._stub.ListRuns, pb.ListRunsRequest(), timeout).runs)

    def delete_run(self, run: str, split: str = "", timeout: Optional[float] = None) -> int:
        """Deletes one split of `run`, or all of them; returns how many."""
        request = pb.DeleteRunRequest(run=run, split=split)
        return self._call(self._stub.DeleteRun, request, timeout).deleted

    def _call(self, method: Any, request: Any, timeout: Optional[float]) -> Any:
        # Run-scoped calls carry the run id as metadata, for proxies that
        # route by it (Envoy's ring hash on a header: docs/deploy.md).
        run = getattr(request, "run", "")
        metadata = ((RUN_HEADER, run),) if run else None
        try:
            return method(request, timeout=self._timeout if timeout is None else timeout,
                          metadata=metadata)
        except grpc.RpcError as error:
            raise FocalMetricsError(error.code(), error.details()) from None

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
