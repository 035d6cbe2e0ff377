"""Exactly-once delivery of one worker's batches across server restarts.

The server acknowledges every batch and says, in `durable_seq`, the highest
seq of this worker that a snapshot on disk covers. This module keeps every
batch until it is durable; when the stream breaks (the server restarted,
crashed, or is draining) it reconnects with exponential backoff and resends
from durable_seq + 1. The server's (worker, seq) deduplication turns the
resends into exactly-once delivery.

    acks = deliver_durably("localhost:50051", requests)  # seq 1..n of one worker
"""

from __future__ import annotations

import threading
import time
from typing import Callable, Optional, Sequence

import grpc

from focalmetrics._proto import pb, pb_grpc

# Codes after which reconnecting and resending is the right thing to do.
_RETRYABLE = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED,
              grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.UNKNOWN,
              grpc.StatusCode.INTERNAL}


class DeliveryError(Exception):
    """A batch the server rejected (its ack carried an error), or no durable
    acknowledgement before the deadline."""


def deliver_durably(target: str, requests: Sequence[pb.ReportRequest], *,
                    deadline_s: float = 300.0, poll_s: float = 0.1,
                    send_interval_s: float = 0.0,
                    backoff_s: tuple[float, float] = (0.05, 2.0),
                    on_reconnect: Optional[Callable[[int], None]] = None) -> int:
    """Sends `requests` (one worker's, seq increasing from 1) until every one
    is durable; returns how many times it had to reconnect.

    `send_interval_s` paces first sends (a rate limit). Batches the server
    rejects raise DeliveryError (resending them would not help).
    REQUIRES: same run, split and worker in every request."""
    if not requests:
        return 0
    last_seq = requests[-1].seq
    durable = 0
    reconnects = 0
    delay = backoff_s[0]
    stop_at = time.monotonic() + deadline_s
    while durable < last_seq:
        if time.monotonic() > stop_at:
            raise DeliveryError(f"seq {durable + 1}..{last_seq} not durable after {deadline_s} s")
        done = threading.Event()
        pending = [r for r in requests if r.seq > durable]

        def outgoing():
            for request in pending:
                yield request
                if send_interval_s > 0:
                    time.sleep(send_interval_s)
            # Everything is sent; resend the last batch (a duplicate now) until
            # an ack says it is durable.
            while not done.wait(poll_s):
                yield pending[-1]

        channel = grpc.insecure_channel(target)
        try:
            call = pb_grpc.FocalMetricsStub(channel).StreamReports(outgoing(), timeout=deadline_s)
            for ack in call:
                if ack.HasField("error"):
                    raise DeliveryError(f"seq {ack.seq} rejected: {ack.error.message}")
                durable = max(durable, ack.durable_seq)
                delay = backoff_s[0]
                if durable >= last_seq:
                    break
            done.set()
            call.cancel()
        except grpc.RpcError as error:
            done.set()
            if error.code() not in _RETRYABLE:
                raise
            reconnects += 1
            if on_reconnect is not None:
                on_reconnect(durable)
            time.sleep(delay)
            delay = min(backoff_s[1], delay * 2)
        finally:
            done.set()
            channel.close()
    return reconnects
