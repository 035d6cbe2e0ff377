"""Non-blocking reporting from a training loop, like TensorBoard's SummaryWriter.

    with focalmetrics.Reporter("localhost:50051", run="resnet-7", task="multiclass",
                               losses=["focal"]) as reporter:
        for step, (x, y) in enumerate(loader, start=1):
            logits = model(x)
            reporter.log(step, logits, y, epoch=epoch)   # copies, returns at once

`log()` copies the scores and targets and returns; one background thread owns
the gRPC stream. Every batch is kept until the server says it is durable
(`durable_seq`, needs a server with --state_dir) or, with durability="ack",
until it is acknowledged. When the stream breaks the thread reconnects with
exponential backoff and resends from durable_seq + 1; the server's
(worker, seq) deduplication makes that exactly-once.
"""

from __future__ import annotations

import atexit
import collections
import os
import socket
import sys
import threading
import time
import weakref
from dataclasses import dataclass
from typing import Any, Callable, Deque, Optional, Sequence, Union

import grpc
import numpy as np

from focalmetrics._proto import pb, pb_grpc
from focalmetrics._specs import LossLike, enum_value, loss_specs
from focalmetrics._tensors import _NUMPY_DTYPES

# Codes after which reconnecting and resending is right.
_RETRYABLE = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED,
              grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.UNKNOWN,
              grpc.StatusCode.INTERNAL, grpc.StatusCode.RESOURCE_EXHAUSTED}


class ReporterError(Exception):
    """Raised by log(), flush() or close() for what went wrong in the
    background: a batch the server rejected, or a stream that cannot be
    re-established."""


@dataclass
class ReporterStats:
    logged: int = 0       # batches accepted by log()
    acked: int = 0        # acknowledged by the server (first time)
    durable_seq: int = 0  # highest seq on the server's disk
    dropped: int = 0      # dropped by when_full="drop_oldest"
    rejected: int = 0     # answered with an error
    reconnects: int = 0


class _RawTensor:
    """A tensor as log() keeps it: shape, dtype and a copy of its bytes; the
    background thread makes the Tensor message."""

    __slots__ = ("shape", "dtype", "data")

    def __init__(self, shape: tuple[int, ...], dtype: int, data: bytes) -> None:
        self.shape, self.dtype, self.data = shape, dtype, data

    def message(self) -> pb.Tensor:
        return pb.Tensor(shape=self.shape, dtype=self.dtype, data=self.data)


def _copy_tensor(value: Any, name: str) -> _RawTensor:
    """The only per-tensor work log() does: one copy of the bytes. Every
    attribute touched here is on the training loop's time, hence the terse
    checks (a torch tensor implies torch is imported: no import here)."""
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(value, torch.Tensor):
        if value.requires_grad:
            value = value.detach()
        if value.is_cuda:
            value = value.cpu()
        if value.dtype is torch.bfloat16:
            data = value.contiguous().view(torch.int16).numpy().tobytes()
            return _RawTensor(tuple(value.shape), pb.DTYPE_BFLOAT16, data)
        value = value.numpy()
    array = value if isinstance(value, np.ndarray) else np.asarray(value)
    dtype = _NUMPY_DTYPES.get(array.dtype)
    if dtype is None:
        dtype = _NUMPY_DTYPES.get(array.dtype.newbyteorder("="))
        if dtype is None:
            raise TypeError(f"{name}: dtype {array.dtype} is not supported; use float32, "
                            "float16, bfloat16 (torch), float64, int64, int32, uint8 or bool")
        array = array.astype(array.dtype.newbyteorder("<"))
    return _RawTensor(array.shape, dtype, array.tobytes())


class Reporter:
    """Streams one worker's batches into a run without blocking the caller.

    target: "host:port". run, split: the run to report into. worker: this
    process's identity (default: hostname-pid); seqs are numbered from 1.
    task, losses, input_kind: defaults for log(). queue_size: batches held
    (not yet durable) before when_full applies: "block" waits for room,
    "drop_oldest" drops the oldest unsent batch and counts it.
    durability: "disk" keeps batches until durable_seq covers them (a server
    with --state_dir), "ack" until they are acknowledged.
    """

    def __init__(self, target: str, run: str, *, split: str = "",
                 worker: Optional[str] = None, task: Union[str, int, None] = None,
                 losses: Union[LossLike, Sequence[LossLike]] = (),
                 input_kind: Union[str, int] = "logits", queue_size: int = 1024,
                 when_full: str = "block", durability: str = "disk",
                 backoff_s: tuple[float, float] = (0.05, 5.0), poll_s: float = 0.25,
                 close_timeout_s: float = 30.0) -> None:
        if when_full not in ("block", "drop_oldest"):
            raise ValueError("when_full: 'block' or 'drop_oldest'")
        if durability not in ("disk", "ack"):
            raise ValueError("durability: 'disk' (needs --state_dir) or 'ack'")
        if queue_size < 1:
            raise ValueError("queue_size: at least 1")
        self.target = target
        self.run = run
        self.split = split
        self._base_worker = worker or f"{socket.gethostname()}-{os.getpid()}"
        self._task = None if task is None else enum_value(pb.Task, "TASK_", task, "task")
        self._losses = loss_specs(losses) if losses else []
        self._input_kind = enum_value(pb.InputKind, "INPUT_KIND_", input_kind, "input_kind")
        self._queue_size = queue_size
        self._when_full = when_full
        self._durability = durability
        self._backoff = backoff_s
        self._poll_s = poll_s
        self._close_timeout = close_timeout_s
        self._reset()
        # Fork-based DataLoader workers inherit this object. gRPC's channel and
        # this thread do not survive a fork, so the child gets a disabled
        # copy: log() there says what to do instead of touching them.
        self_ref = weakref.ref(self)
        os.register_at_fork(after_in_child=lambda: (r := self_ref()) and r._forget_after_fork())
        atexit.register(_close_at_exit, self_ref)

    # -- the training loop's side ---------------------------------------------

    def log(self, step: int, scores: Any, targets: Any, *, epoch: Optional[int] = None,
            task: Union[str, int, None] = None,
            losses: Union[LossLike, Sequence[LossLike], None] = None,
            ignore_index: Optional[int] = None, box_preds: Any = None,
            box_targets: Any = None) -> int:
        """Queues one batch and returns its seq at once (after copying the
        tensors). Raises ReporterError for an earlier background failure."""
        if self._forked_from is not None:
            raise ReporterError(
                f"this Reporter belongs to process {self._forked_from}; a forked child (such "
                "as a DataLoader worker) cannot use its gRPC stream: report from the main "
                "process, or create a Reporter in the child (with GRPC_ENABLE_FORK_SUPPORT=1)")
        self._raise_pending_error()
        if self._closed:
            raise ReporterError("log() after close()")
        task_value = self._task if task is None else enum_value(pb.Task, "TASK_", task, "task")
        if task_value is None:
            raise ValueError("task: give it to Reporter(...) or to log()")
        scores_raw = _copy_tensor(scores, "scores")
        targets_raw = _copy_tensor(targets, "targets")
        boxes = None
        if box_preds is not None:
            boxes = (_copy_tensor(box_preds, "box_preds"), _copy_tensor(box_targets, "box_targets"))
        specs = self._losses if losses is None else loss_specs(losses)
        input_kind = self._input_kind
        # An unset epoch is the latest one logged (a new epoch is announced once).
        epoch_value = max(self._epoch, epoch) if epoch is not None else self._epoch

        def build(seq: int) -> pb.ReportRequest:
            # Runs on the background thread: the messages are built there.
            batch = pb.Batch(task=task_value, input_kind=input_kind,
                             scores=scores_raw.message(), targets=targets_raw.message())
            if ignore_index is not None:
                batch.ignore_index = int(ignore_index)
            if boxes is not None:
                batch.box_preds.CopyFrom(boxes[0].message())
                batch.box_targets.CopyFrom(boxes[1].message())
            return pb.ReportRequest(run=self.run, split=self.split, worker=self.worker,
                                    seq=seq, step=step, epoch=epoch_value, batch=batch,
                                    losses=specs)

        return self._enqueue(build, epoch)

    def flush(self, timeout: Optional[float] = None) -> bool:
        """Waits until every batch logged so far is durable (or acknowledged,
        with durability="ack"). Returns False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            target = self._next_seq - 1
            while self._pending and self._pending[0][0] <= target and self._error is None:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._changed.wait(remaining if remaining is not None else 1.0)
        self._raise_pending_error()
        return True

    def close(self, timeout: Optional[float] = None) -> bool:
        """Flushes (up to `timeout`, default close_timeout_s), then stops the
        background thread. Returns whether everything was flushed."""
        if self._closed:
            return self._forked_from is None
        flushed = False
        try:
            flushed = self.flush(self._close_timeout if timeout is None else timeout)
        finally:
            with self._lock:
                self._closed = True
                self._changed.notify_all()
            if self._thread is not None:
                self._thread.join(timeout=5)
        return flushed

    @property
    def stats(self) -> ReporterStats:
        with self._lock:
            return ReporterStats(**vars(self._stats))

    def __enter__(self) -> "Reporter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- shared state -----------------------------------------------------------

    def _forget_after_fork(self) -> None:
        parent = self._pid
        self._reset()
        self._forked_from = parent
        self._closed = True

    def _reset(self) -> None:
        self._pid = os.getpid()
        self._forked_from: Optional[int] = None
        self.worker = self._base_worker
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        # Batches not yet settled, by seq: (seq, build(seq) -> ReportRequest).
        self._pending: Deque[tuple[int, Callable[[int], pb.ReportRequest]]] = collections.deque()
        self._next_seq = 1
        self._generation = 0  # bumped per stream; ends the previous generator
        self._unsent = 0  # the newest `_unsent` pending batches were never sent
        self._acked_seq = 0
        self._epoch = 0
        self._stats = ReporterStats()
        self._error: Optional[BaseException] = None
        self._closed = False
        self._thread: Optional[threading.Thread] = None

    def _settled_seq(self) -> int:
        return self._stats.durable_seq if self._durability == "disk" else self._acked_seq

    def _raise_pending_error(self) -> None:
        if self._error is None:  # The common case, without taking the lock.
            return
        with self._lock:
            error, self._error = self._error, None
        if error is not None:
            raise ReporterError(str(error)) from error

    def _enqueue(self, build: Callable[[int], pb.ReportRequest], epoch: Optional[int]) -> int:
        with self._lock:
            while len(self._pending) >= self._queue_size:
                if self._when_full == "drop_oldest":
                    # Only batches never sent can go; a sent one may be on
                    # the server already and must stay until it is settled.
                    if self._unsent > 0:
                        del self._pending[len(self._pending) - self._unsent]
                        self._unsent -= 1
                        self._stats.dropped += 1
                        continue
                self._changed.wait(0.1)
                if self._closed:
                    raise ReporterError("closed while waiting for room")
            seq = self._next_seq
            self._next_seq += 1
            if epoch is not None:
                self._epoch = max(self._epoch, epoch)
            self._pending.append((seq, build))
            self._unsent += 1
            self._stats.logged += 1
            self._changed.notify_all()
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="focalmetrics-reporter",
                                                daemon=True)
                self._thread.start()
        return seq

    # -- the background thread --------------------------------------------------

    def _run(self) -> None:
        delay = self._backoff[0]
        try:
            while True:
                with self._lock:
                    if self._closed:
                        return  # close() flushed what it could
                    self._generation += 1
                    generation = self._generation
                channel = grpc.insecure_channel(self.target)
                try:
                    call = pb_grpc.FocalMetricsStub(channel).StreamReports(
                        self._requests(generation),
                        metadata=(("x-focalmetrics-run", self.run),))
                    for ack in call:
                        self._on_ack(ack)
                        delay = self._backoff[0]
                    continue  # the server ended the stream: open another
                except grpc.RpcError as error:
                    code = error.code()
                    if code == grpc.StatusCode.RESOURCE_EXHAUSTED:
                        # A message over the server's --max_message_mb: the
                        # oldest batch not yet acknowledged is the one it read.
                        self._reject_oldest_unacked(error.details())
                        continue
                    if code not in _RETRYABLE:
                        with self._lock:
                            self._error = ReporterError(
                                f"stream to {self.target} failed: {code.name}: {error.details()}")
                            self._changed.notify_all()
                        return
                    with self._lock:
                        self._stats.reconnects += 1
                    time.sleep(delay)
                    delay = min(self._backoff[1], delay * 2)
                finally:
                    with self._lock:
                        self._generation += 1  # ends this stream's request generator
                        self._changed.notify_all()
                    channel.close()
        finally:
            with self._lock:
                self._thread = None  # the next log() starts a new one

    def _requests(self, generation: int):
        """The stream's requests: everything not settled, from the oldest,
        then new batches as they come; when idle with unsettled batches, the
        newest again every poll_s (a duplicate, whose ack tells how far
        durability got). Ends when its stream is replaced or the reporter
        closes, so a dead stream's generator can never take a batch."""
        with self._lock:
            self._unsent = len(self._pending)  # a new stream resends everything
            last_send = time.monotonic()
        while True:
            with self._lock:
                while True:
                    if self._generation != generation or self._closed:
                        return
                    if self._unsent > 0:
                        # Sent batches are a prefix of pending, unsent ones the rest.
                        seq, build = self._pending[len(self._pending) - self._unsent]
                        self._unsent -= 1
                        break
                    idle = time.monotonic() - last_send
                    if self._pending and idle >= self._poll_s:
                        seq, build = self._pending[-1]
                        break
                    self._changed.wait(max(0.001, self._poll_s - idle))
            last_send = time.monotonic()
            # Messages are built outside the lock, so log() never waits on it.
            yield build(seq)

    def _drop_settled(self) -> None:
        """Pops settled batches. REQUIRES: _lock held."""
        settled = self._settled_seq()
        while self._pending and self._pending[0][0] <= settled:
            self._pending.popleft()
        self._unsent = min(self._unsent, len(self._pending))

    def _drop_rejected(self, seq: int, message: str) -> None:
        """Forgets a batch the server refused: resending it cannot help.
        REQUIRES: _lock held."""
        kept = collections.deque(item for item in self._pending if item[0] != seq)
        if len(kept) != len(self._pending):
            position = next(i for i, item in enumerate(self._pending) if item[0] == seq)
            if position >= len(self._pending) - self._unsent:
                self._unsent -= 1
            self._pending = kept
        self._stats.rejected += 1
        self._error = ReporterError(f"batch seq {seq} of run '{self.run}' rejected: {message}")

    def _reject_oldest_unacked(self, message: str) -> None:
        with self._lock:
            oldest = next((seq for seq, _ in self._pending if seq > self._acked_seq), None)
            if oldest is not None:
                self._drop_rejected(oldest, message)
            self._changed.notify_all()

    def _on_ack(self, ack: pb.ReportAck) -> None:
        with self._lock:
            if ack.seq > self._acked_seq:
                self._stats.acked += ack.seq - self._acked_seq
                self._acked_seq = ack.seq
            self._stats.durable_seq = max(self._stats.durable_seq, ack.durable_seq)
            if ack.HasField("error"):
                self._drop_rejected(ack.seq, ack.error.message)
            self._drop_settled()
            self._changed.notify_all()


def _close_at_exit(reporter_ref: "weakref.ref[Reporter]") -> None:
    reporter = reporter_ref()
    if reporter is not None and reporter._pid == os.getpid():
        try:
            reporter.close()
        except ReporterError:
            pass
