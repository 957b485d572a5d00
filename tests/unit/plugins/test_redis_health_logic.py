"""intelgraph.ops Redis health logic: what a node's INFO says about it."""

from __future__ import annotations

from typing import Any

import pytest
from ansible_collections.intelgraph.ops.plugins.module_utils._redis import (
    Thresholds,
    evaluate,
    normalise_role,
    replica_offsets,
)


def replica_info(**overrides: Any) -> dict[str, Any]:
    info = {
        "role": "slave",
        "master_host": "10.0.0.1",
        "master_port": 6379,
        "master_link_status": "up",
        "slave_repl_offset": 1000,
        "master_repl_offset": 1000,
        "rdb_last_bgsave_status": "ok",
        "used_memory": 100,
        "maxmemory": 1000,
        "aof_enabled": 0,
    }
    info.update(overrides)
    return info


def primary_info(**overrides: Any) -> dict[str, Any]:
    info = {
        "role": "master",
        "connected_slaves": 1,
        "slave0": {"ip": "10.0.0.2", "port": 6379, "state": "online", "offset": 900, "lag": 0},
        "master_repl_offset": 1000,
        "rdb_last_bgsave_status": "ok",
        "used_memory": 100,
        "maxmemory": 0,
    }
    info.update(overrides)
    return info


def failed(checks: list) -> list[str]:
    return [c.name for c in checks if not c.ok]


@pytest.mark.parametrize(
    ("primary_offset", "limit", "lag", "bad"),
    [
        (1000, 0, 0, []),
        (1500, 1024, 500, []),
        (5000, 1024, 4000, ["replication lag"]),
        (900, 0, 0, []),  # a replica ahead of a stale read is not behind
    ],
)
def test_replica_lag_against_the_primary(primary_offset: int, limit: int, lag: int, bad: list[str]) -> None:
    checks, measured = evaluate(replica_info(), Thresholds(max_lag_bytes=limit), primary_offset)
    assert measured["lag_bytes"] == lag
    assert failed(checks) == bad


def test_replica_with_link_down_fails_naming_the_link() -> None:
    checks, measured = evaluate(replica_info(master_link_status="down"), Thresholds(), 1000)
    assert measured["master_link_status"] == "down"
    assert failed(checks) == ["replication link"]
    assert "master_link_status is down" in next(c.detail for c in checks if not c.ok)


def test_replica_without_primary_offset_is_not_healthy() -> None:
    checks, _ = evaluate(replica_info(), Thresholds(), None)
    assert failed(checks) == ["replication lag"]


@pytest.mark.parametrize(
    ("replicas", "min_replicas", "bad"),
    [
        ({"slave0": {"ip": "a", "port": 1, "state": "online", "offset": 1000}}, 1, []),
        ({"slave0": {"ip": "a", "port": 1, "state": "wait_bgsave", "offset": 0}}, 1, ["connected replicas"]),
        ({}, 0, []),
    ],
)
def test_primary_counts_online_replicas(replicas: dict, min_replicas: int, bad: list[str]) -> None:
    info = primary_info(**replicas)
    if not replicas:
        info.pop("slave0")
    checks, measured = evaluate(info, Thresholds(min_replicas=min_replicas, max_lag_bytes=10**9))
    assert failed(checks) == bad
    assert len(measured["replicas"]) == len(replicas)


def test_primary_measures_each_replica_lag() -> None:
    checks, measured = evaluate(primary_info(), Thresholds(max_lag_bytes=50))
    assert measured["replicas"] == [{"address": "10.0.0.2:6379", "state": "online", "lag_bytes": 100}]
    assert failed(checks) == ["replica 10.0.0.2:6379 lag"]


@pytest.mark.parametrize(
    ("used", "limit", "ratio", "bad"),
    [(100, 1000, 0.1, []), (950, 1000, 0.95, ["memory"]), (5000, 0, None, [])],
)
def test_memory_against_maxmemory(used: int, limit: int, ratio: float | None, bad: list[str]) -> None:
    checks, measured = evaluate(replica_info(used_memory=used, maxmemory=limit), Thresholds(), 1000)
    assert measured.get("memory_ratio") == ratio
    assert failed(checks) == bad


def test_failed_bgsave_and_unexpected_role() -> None:
    checks, _ = evaluate(
        primary_info(rdb_last_bgsave_status="err"), Thresholds(expected_role="replica", max_lag_bytes=10**6)
    )
    assert failed(checks) == ["role", "last bgsave"]


def test_replica_lines_as_strings_are_parsed() -> None:
    info = {"slave0": "ip=10.0.0.2,port=6379,state=online,offset=7,lag=0", "slaves": "x"}
    assert replica_offsets(info) == [
        {"ip": "10.0.0.2", "port": "6379", "state": "online", "offset": "7", "lag": "0"}
    ]


@pytest.mark.parametrize(
    ("raw", "role"), [("master", "primary"), ("slave", "replica"), ("sentinel", "sentinel")]
)
def test_roles_are_named_primary_and_replica(raw: str, role: str) -> None:
    assert normalise_role(raw) == role
