"""Exactly-once delivery of prebuilt requests across server restarts.

A thin use of Reporter for callers that already hold ReportRequest messages
(tools, tests, replays): every batch is kept until the server's durable_seq
covers it, and resent from durable_seq + 1 after every broken stream.

    reconnects = deliver_durably("localhost:50051", requests)  # one worker, seq 1..n
"""

from __future__ import annotations

import time
from typing import Sequence

from focalmetrics._proto import pb
from focalmetrics.reporter import Reporter, ReporterError


class DeliveryError(Exception):
    """A batch the server rejected, or no durable acknowledgement in time."""


def deliver_durably(target: str, requests: Sequence[pb.ReportRequest], *,
                    deadline_s: float = 300.0, poll_s: float = 0.1,
                    send_interval_s: float = 0.0) -> int:
    """Sends `requests` (one worker's: same run, split and worker, seq 1..n in
    order) until every one is durable; returns how many times the stream had
    to be re-established. `send_interval_s` paces the first sends."""
    if not requests:
        return 0
    first = requests[0]
    reporter = Reporter(target, first.run, split=first.split, worker=first.worker,
                        durability="disk", poll_s=poll_s, queue_size=len(requests))
    try:
        for expected, request in enumerate(requests, start=1):
            if request.seq != expected:
                raise ValueError(f"requests[{expected - 1}].seq is {request.seq}, not {expected}")
            reporter._enqueue(lambda seq, request=request: request, None)
            if send_interval_s > 0:
                time.sleep(send_interval_s)
        if not reporter.flush(deadline_s):
            raise DeliveryError(f"not durable after {deadline_s} s "
                                f"(durable_seq {reporter.stats.durable_seq}; is --state_dir set?)")
    except ReporterError as error:
        raise DeliveryError(str(error)) from error
    finally:
        reporter.close(timeout=0)
    return reporter.stats.reconnects
