"""Which server shard holds a run, and a client that sends each run's calls
there.

A run's state lives on one pod of the StatefulSet. A ClusterIP Service would
balance *connections*, so one trainer's stream could land on any pod and the
run's batches would be split across pods; routing by a stable hash of the run
id sends every worker of a run to the same pod. The hash is FNV-1a 64 of the
UTF-8 run id, mapped to a shard by jump consistent hashing (growing from n to
n+1 shards moves only 1/(n+1) of the runs). The C++ client (client/cpp/
shard_router.h) computes the same mapping.

    addresses = headless_addresses("focalmetrics", "focalmetrics-headless.focalmetrics.svc", 3)
    client = ShardedClient(addresses)
    client.report("resnet-7", ...)            # goes to the run's pod
    Reporter(target_for("resnet-7", addresses), "resnet-7", ...)
"""

from __future__ import annotations

from typing import Any, Sequence

_MASK = (1 << 64) - 1


def fnv1a64(data: bytes) -> int:
    value = 0xCBF29CE484222325
    for byte in data:
        value = ((value ^ byte) * 0x100000001B3) & _MASK
    return value


def jump_consistent_hash(key: int, buckets: int) -> int:
    if buckets < 1:
        raise ValueError("buckets: at least 1")
    b, j = -1, 0
    while j < buckets:
        b = j
        key = (key * 2862933555777941757 + 1) & _MASK
        j = int((b + 1) * (float(1 << 31) / float((key >> 33) + 1)))
    return b


def shard_for(run: str, shards: int) -> int:
    """The shard (0 .. shards-1) that holds `run`."""
    return jump_consistent_hash(fnv1a64(run.encode()), shards)


def headless_addresses(statefulset: str, service: str, shards: int,
                       port: int = 50051) -> list[str]:
    """The per-pod addresses a headless Service gives a StatefulSet:
    "<statefulset>-<i>.<service>:<port>" for i in 0 .. shards-1."""
    return [f"{statefulset}-{i}.{service}:{port}" for i in range(shards)]


def target_for(run: str, addresses: Sequence[str]) -> str:
    """The address of the shard that holds `run`."""
    return addresses[shard_for(run, len(addresses))]


class ShardedClient:
    """Client's calls, each sent to the shard of its run. Calls without a run
    (ComputeLoss without `run`) go to the shard of "" ; list_runs asks every
    shard."""

    def __init__(self, addresses: Sequence[str], **client_options: Any) -> None:
        from focalmetrics.client import Client  # noqa: PLC0415 - avoid an import cycle

        if not addresses:
            raise ValueError("addresses: at least one shard")
        self.addresses = list(addresses)
        self._clients = [Client(address, **client_options) for address in self.addresses]

    def client_for(self, run: str) -> Any:
        return self._clients[shard_for(run, len(self._clients))]

    def compute_loss(self, *args: Any, run: str = "", **kwargs: Any) -> Any:
        return self.client_for(run).compute_loss(*args, run=run, **kwargs)

    def report(self, run: str, *args: Any, **kwargs: Any) -> Any:
        return self.client_for(run).report(run, *args, **kwargs)

    def metrics(self, run: str, *args: Any, **kwargs: Any) -> Any:
        return self.client_for(run).metrics(run, *args, **kwargs)

    def class_weights(self, run: str, *args: Any, **kwargs: Any) -> Any:
        return self.client_for(run).class_weights(run, *args, **kwargs)

    def precision_recall_curve(self, run: str, *args: Any, **kwargs: Any) -> Any:
        return self.client_for(run).precision_recall_curve(run, *args, **kwargs)

    def delete_run(self, run: str, *args: Any, **kwargs: Any) -> int:
        return self.client_for(run).delete_run(run, *args, **kwargs)

    def list_runs(self, **kwargs: Any) -> list[Any]:
        runs = [r for client in self._clients for r in client.list_runs(**kwargs)]
        return sorted(runs, key=lambda r: (r.run, r.split))

    def close(self) -> None:
        for client in self._clients:
            client.close()

    def __enter__(self) -> "ShardedClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
