"""Routing runs to shards: stable, even, the same in Python and C++, and a
ShardedClient that keeps each run on its shard."""

from __future__ import annotations

import subprocess
from collections import Counter

import numpy as np

from conftest import RunningServer, server_binary
from focalmetrics.routing import (ShardedClient, fnv1a64, headless_addresses, shard_for,
                                  target_for)

RUNS = [f"run-{i}" for i in range(1000)]


def test_reference_hash_values() -> None:
    assert fnv1a64(b"") == 0xCBF29CE484222325
    assert fnv1a64(b"a") == 0xAF63DC4C8601EC8C
    assert fnv1a64(b"foobar") == 0x85944171F73967E8


def test_every_run_maps_to_one_shard_and_the_spread_is_even() -> None:
    shards = [shard_for(run, 3) for run in RUNS]
    assert all(0 <= s < 3 for s in shards)
    assert shards == [shard_for(run, 3) for run in RUNS]  # stable
    for count in Counter(shards).values():
        assert abs(count - 1000 / 3) <= 0.15 * 1000 / 3, Counter(shards)
    # Growing to 4 shards moves runs only onto the new shard.
    moved = [(a, shard_for(run, 4)) for run, a in zip(RUNS, shards) if shard_for(run, 4) != a]
    assert all(b == 3 for _, b in moved) and 0.15 < len(moved) / 1000 < 0.35


def test_python_and_cpp_agree_on_every_mapping() -> None:
    tool = server_binary().parents[1] / "client" / "cpp" / "focalmetrics-shard"
    out = subprocess.run([str(tool), "--shards=3"], input="\n".join(RUNS) + "\n",
                         capture_output=True, text=True, timeout=60, check=True)
    assert [int(line) for line in out.stdout.split()] == [shard_for(run, 3) for run in RUNS]
    addresses = headless_addresses("focalmetrics", "focalmetrics-headless.ml.svc", 3)
    out = subprocess.run([str(tool), "--shards=3",
                          "--headless_service=focalmetrics-headless.ml.svc"],
                         input="\n".join(RUNS[:50]) + "\n", capture_output=True, text=True,
                         timeout=60, check=True)
    assert out.stdout.split() == [target_for(run, addresses) for run in RUNS[:50]]


def test_sharded_client_keeps_each_run_on_its_shard() -> None:
    servers = [RunningServer() for _ in range(3)]
    try:
        addresses = [s.target for s in servers]
        runs = [f"sharded-{i}" for i in range(12)]
        with ShardedClient(addresses) as client:
            for run in runs:
                client.report(run, np.zeros(4, np.float32), np.array([1, 0, 0, 1], np.float32),
                              task="binary", worker="w", seq=1)
            assert [r.run for r in client.list_runs()] == sorted(runs)
            for run in runs:
                assert client.metrics(run).samples == 4
        from focalmetrics import Client

        for shard, address in enumerate(addresses):
            with Client(address) as direct:
                held = {r.run for r in direct.list_runs()}
            assert held == {run for run in runs if shard_for(run, 3) == shard}
    finally:
        for s in servers:
            assert s.stop() == 0
